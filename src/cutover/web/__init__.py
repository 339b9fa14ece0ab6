"""`cutover serve`: a read-only web page over the store, always current.

`pages` builds every page from the service layer and the report's view model and templates
(so the page and the self-contained HTML report never drift); `app` is the aiohttp
application: routes, security headers, time limits, conditional requests and server-sent
events that tell open pages when the store changed.
"""
