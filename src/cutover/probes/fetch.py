"""One HTTP request with the engine's limits: retries for connection errors and 5xx, a body cap.

Everything that means "could not find out" becomes `Undecided` with a one-line reason; a
certificate that fails verification is a verified fact and becomes `Failed`.  Decompression
is aiohttp's, which from 3.13.3 stops at the size asked for (a gzip bomb costs the cap).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cutover.probes.base import Failed, ProbeContext, Undecided
from cutover.probes.web import Request
from cutover.records import quick_init

if TYPE_CHECKING:
    from aiohttp import CookieJar

REDIRECTS = frozenset({301, 302, 303, 307, 308})  # 304-306 carry no Location to follow


@quick_init
@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response as probes check it (the body at most the cap plus one byte)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    elapsed_ms: float
    truncated: bool

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def text(self) -> str:
        self.require_whole()
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        self.require_whole()
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise Undecided(f"{self.url}: response is not valid JSON ({exc})") from None
        except RecursionError:
            raise Undecided(f"{self.url}: response JSON is nested too deeply") from None

    def require_whole(self) -> None:
        if self.truncated:
            raise Undecided(
                f"{self.url}: response body exceeds the {len(self.body) - 1:,} byte cap"
            )


class ChainCookies:
    """The cookies of one redirect chain: what a host sets is sent back to that host only,
    with aiohttp's rules for path, expiry and `Secure`.  One jar per host, not one for the
    chain: aiohttp has no public-suffix list, so a single jar would send a cookie set with
    `Domain=gov.vn` to every host under it, which a browser refuses."""

    def __init__(self) -> None:
        self._jars: dict[str, CookieJar] = {}

    def for_url(self, url: str) -> CookieJar:
        """The jar of `url`'s host (ValueError for a URL whose host cannot be read)."""
        host = urlsplit(url).hostname or ""
        jar = self._jars.get(host)
        if jar is None:
            import aiohttp

            jar = self._jars[host] = aiohttp.CookieJar()
        return jar


async def fetch(
    ctx: ProbeContext,
    url: str,
    request: Request | None = None,
    *,
    method: str = "GET",
    accept: Collection[int] = (),
    cookies: ChainCookies | None = None,
) -> Response:
    """A single request, redirects not followed (probes that follow do it themselves).

    The run's session sends no cookies and keeps none.  A redirect chain passes its own
    `cookies`: what they hold for the URL's host is sent, and what the response sets is
    kept for that host.

    A 5xx still answered after the retries is undecided (the service is down, which says
    nothing about the step) unless the probe expects that status (`accept`).  A certificate
    that fails verification decides the probe: it is failing.
    """
    session = ctx.session
    if session is None:
        raise Undecided("no HTTP session")
    limits = ctx.limits
    cap = limits.max_body
    # Worked out only when there are headers to send (it parses both URLs).
    headers = request.headers_for(url) if request is not None and request.headers else None
    tls = request.ssl if request is not None else True
    jar = sent = None
    if cookies is not None:
        try:
            jar = cookies.for_url(url)
            if len(jar):
                from yarl import URL

                sent = jar.filter_cookies(URL(url)) or None
        except ValueError:  # a host that yarl cannot encode: what aiohttp would say of it
            raise _invalid_url(url) from None
    attempts = limits.retries + 1
    last = ""
    for attempt in range(attempts):
        if attempt:
            import asyncio

            await asyncio.sleep(limits.backoff * 2 ** (attempt - 1))
        start = time.perf_counter()
        # The request inline, and aiohttp's exception classes looked at only once something
        # was raised: this runs once per probe (about 1 µs of the probe's own cost).
        try:
            async with session.request(
                method, url, headers=headers, cookies=sent, allow_redirects=False, ssl=tls
            ) as resp:
                body = await _read_capped(resp.content, cap)
                # aiohttp's headers as they are: looked up case-insensitively, as HTTP requires.
                status, found, final = resp.status, resp.headers, str(resp.url)
                if jar is not None:
                    jar.update_cookies_from_headers(found.getall("Set-Cookie", ()), resp.url)
        except Exception as exc:
            retry = _retryable(url, exc)
            if retry is None:
                raise
            last = retry
            continue
        if status >= 500 and status not in accept:
            last = f"service unavailable: {status}"
            continue
        elapsed = (time.perf_counter() - start) * 1000
        return Response(status, found, body, final, elapsed, len(body) > cap)
    plural = "s" * (attempts != 1)
    raise Undecided(f"{url}: {_plain(last)} after {attempts} attempt{plural}")


def _retryable(url: str, exc: Exception) -> str | None:
    """What a request's exception means: `Failed` or `Undecided` raised for those that decide
    the probe (a certificate, TLS, DNS, the URL, a malformed response), the reason for one
    worth another attempt (the connection or the body broke off), None for anything else (it
    propagates: the engine reports it as a probe error)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        raise Failed(_certificate_problem(url, exc.certificate_error)) from None
    if isinstance(exc, aiohttp.ClientSSLError):
        raise Undecided(f"{url}: TLS handshake failed ({exc})") from None
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        raise Undecided(f"{url}: DNS lookup failed for {urlsplit(url).hostname}") from None
    if isinstance(exc, aiohttp.InvalidURL):
        raise _invalid_url(url) from None
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ClientResponseError):
        raise Undecided(f"{url}: malformed response ({exc.message})") from None
    return None


def _invalid_url(url: str) -> Undecided:
    """One wording for a URL the request cannot be made to, whoever noticed."""
    return Undecided(f"invalid URL {url!r}")


def _certificate_problem(url: str, error: Exception) -> str:
    detail = getattr(error, "verify_message", None) or str(error)
    return f"certificate of {urlsplit(url).hostname} not valid: {detail}"


async def _read_capped(stream: Any, cap: int) -> bytes:
    """At most cap + 1 bytes: enough to know the body is over the cap without reading it all."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = await stream.read(cap + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if stream.at_eof():  # the whole body has arrived: no need to ask again
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _plain(reason: str) -> str:
    return reason.replace("ServerDisconnectedError: ", "").replace("ClientOSError: ", "")
