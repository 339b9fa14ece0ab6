"""The aiohttp application of `cutover serve`: read-only routes over the store.

- Every page and document is computed in a reader thread with its own store connection
  (SQLite and psycopg connections belong to one thread), so a slow read never stalls the
  event loop; a request's store work is stopped after `query_timeout` by the store itself
  and the request after `request_timeout` by the app.  A thread whose store failed opens it
  again on its next read.
- A watcher, on a thread of its own, asks the store for its change marker every
  `live_every` seconds (index seeks only) and, when it moved or the minute changed (the
  "as of" line; deadlines turn cells overdue without a write), makes a new *version* from
  the two: the ETag of every response, the key of the page cache, and what `/events` sends
  to open pages.
- Identical requests share one computation per version (gzipped once), so fifty clients
  asking at once after a change cost one matrix.
- Every response carries a strict Content-Security-Policy: scripts, styles, fetches and
  forms only from this origin, no frames, no plugins, no base URL.  (The 400 aiohttp itself
  answers to a request its parser refuses never reaches the application, so it carries
  none: aiohttp has no public hook for it.  It has no body worth protecting: a short
  plain-text line, and the connection is closed.)
- A request aiohttp's parser refuses (a request line or header over 8 KB, bytes that are
  not HTTP) costs the log nothing: aiohttp would log each with a traceback, so any client
  could fill the server's log.  With `--access-log` its access line records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.http import HttpProcessingError

from cutover.errors import CutoverError, StoreError, UsageError
from cutover.web import pages

if TYPE_CHECKING:
    from cutover.store.base import Store

log = logging.getLogger("cutover.serve")
# The logger of aiohttp's protocol layer for this server (its `logger` setting).
protocol_log = logging.getLogger("cutover.serve.http")
T = TypeVar("T")

# Scripts, styles and connections from this origin only; inline style attributes are allowed
# for the progress bars' widths (an attribute cannot run anything), inline <style> and
# <script> are not.  base-uri, form-action and frame-ancestors do not fall back to
# default-src, so they are set too.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
MINUTE_S = 60  # the version moves each minute (the as-of line, deadlines passing)
KEEPALIVE_S = 20.0  # a comment on the event stream, so proxies keep it open
CACHE_ENTRIES = 128
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Clock = Callable[[], datetime]


@dataclass
class Settings:
    location: str  # --db, or "" for the default SQLite file
    environ: Mapping[str, str]
    clock: Clock
    request_timeout: float = 10.0
    query_timeout: float = 8.0
    readers: int = 4
    # The command's monotonic clock (`Environment.monotonic`): the age `/healthz` reports,
    # the second that scrapes of `/metrics` share.
    monotonic: Callable[[], float] = time.monotonic

    @property
    def location_shown(self) -> str:
        """The store's location without a password, for messages."""
        from cutover.store.base import is_postgres, public_location

        if not is_postgres(self.location):
            return self.location or "(default SQLite file)"
        return public_location(self.location)


@dataclass
class _Rendered:
    body: bytes
    content_type: str
    status: int = 200
    _gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        """Compressed once per cached page, however many clients ask (200 KB -> about 20)."""
        if self._gzipped is None:
            import gzip

            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


@dataclass
class Site:
    """The state the routes share: workspace, reader threads, version, cache, listeners."""

    ws: pages.Workspace
    settings: Settings
    version: str = ""
    marker: str | None = None
    problem: str = ""  # the last store error the watcher met ("" when healthy)
    healthy_at: float = field(init=False)  # the last good check, on `settings.monotonic`
    minute: int = -1  # the wall-clock minute of the version
    listeners: set[asyncio.Queue[str | None]] = field(default_factory=set)
    watcher: asyncio.Task[None] | None = None
    scope: str = ""  # the provinces a province role restricts the page to ("" for all)
    cache: OrderedDict[tuple[str, ...], asyncio.Future[_Rendered]] = field(
        default_factory=OrderedDict
    )

    def __post_init__(self) -> None:
        self.healthy_at = self.settings.monotonic()
        self._local = threading.local()
        self._stores: list[Store] = []
        self._stores_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.settings.readers, thread_name_prefix="cutover-read")
        self.control = ThreadPoolExecutor(1, thread_name_prefix="cutover-watch")

    # --- reading in threads ---------------------------------------------------------------

    def _store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            from cutover.store.base import open_store

            store = open_store(
                self.settings.location,
                environ=self.settings.environ,
                create=False,
                query_timeout=self.settings.query_timeout,
                read_only=True,
            )
            self._local.store = store
            with self._stores_lock:
                self._stores.append(store)
        return store

    def _forget_store(self) -> None:
        """After a store error, this thread opens its store again on its next read: a
        PostgreSQL restart or a lost connection heals without restarting the server."""
        store: Store | None = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with self._stores_lock:
                if store in self._stores:
                    self._stores.remove(store)
            with contextlib.suppress(Exception):
                store.close()

    def _run(self, work: Callable[[Store], T], budget: float | None) -> T:
        try:
            store = self._store()
            # On the process's clock, not `settings.monotonic`: the store itself compares
            # its deadline with `time.monotonic` while a statement runs.
            store.deadline = None if budget is None else time.monotonic() + budget
            try:
                return work(store)
            finally:
                store.deadline = None
        except StoreError:
            self._forget_store()
            raise

    async def read(self, work: Callable[[Store], T], *, control: bool = False) -> T:
        """Run `work` against this thread's store in a reader thread.  Pages share `pool`
        and are bounded as a whole by the query budget; the watcher and `/healthz` use their
        own thread, so busy pages never delay the change check or the health answer."""
        loop = asyncio.get_running_loop()
        pool = self.control if control else self.pool
        budget = None if control else self.settings.query_timeout
        return await loop.run_in_executor(pool, lambda: self._run(work, budget))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.control.shutdown(wait=True, cancel_futures=True)
        with self._stores_lock:
            for store in self._stores:
                with contextlib.suppress(Exception):
                    store.close()
            self._stores.clear()

    async def narrow_to_reach(self) -> None:
        """Show the provinces the store lets this connection read: with a PostgreSQL province
        role, row-level security hides the others' rows, so the page shows that province
        alone rather than 33 rows without evidence."""
        reach = await self.read(lambda store: store.readable_provinces(), control=True)
        if reach is None:
            return
        ctx = self.ws.ctx
        shown = [p for p in ctx.provinces if p.code in reach]
        if not shown:
            raise StoreError(
                f"store {self.settings.location_shown}: this role may read no province "
                "of the selection (see `cutover db`)"
            )
        self.ws = replace(self.ws, ctx=replace(ctx, provinces=shown))
        self.scope = ", ".join(p.code for p in shown)

    # --- the version ----------------------------------------------------------------------

    async def check(self) -> bool:
        """Ask the store whether anything changed; True when the version moved.  The version
        also moves each minute: the live page says "as of" the minute it shows, and deadlines
        turn cells at-risk or overdue without any write."""
        marker = await self.read(lambda store: store.change_marker(), control=True)
        clock = self.settings.clock
        minute = int(clock().timestamp() // MINUTE_S)
        if marker == self.marker and minute == self.minute:
            return False
        self.marker, self.minute = marker, minute
        # What a page shows depends on the store and on the clock (to the minute) only.
        version = hashlib.sha256(f"{marker}/{minute}".encode()).hexdigest()[:16]
        if version == self.version:
            return False
        self.version = version
        self.cache.clear()
        for queue in list(self.listeners):
            _offer(queue, version)
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.ws.live_every)
            try:
                await self.check()
                self.problem = ""
                self.healthy_at = self.settings.monotonic()
            except CutoverError as exc:
                self.problem = str(exc)
                log.warning("cutover serve: %s", exc)
            except Exception:  # a bug must not stop the page from ever updating again
                self.problem = "internal error while checking the store"
                log.exception("cutover serve: checking the store failed")

    # --- one computation per distinct request ---------------------------------------------

    async def rendered(
        self, version: str, key: tuple[str, ...], make: Callable[[Store], _Rendered]
    ) -> _Rendered:
        key = (version, *key)
        found = self.cache.get(key)
        if found is None:
            found = asyncio.ensure_future(self.read(make))
            self.cache[key] = found
            while len(self.cache) > CACHE_ENTRIES:
                self.cache.popitem(last=False)
            found.add_done_callback(lambda task: self._forget_failure(key, task))
        else:
            self.cache.move_to_end(key)
        return await asyncio.shield(found)

    def _forget_failure(self, key: tuple[str, ...], task: asyncio.Future[_Rendered]) -> None:
        failed = task.cancelled() or task.exception() is not None
        if failed and self.cache.get(key) is task:
            del self.cache[key]


def _offer(queue: asyncio.Queue[str | None], item: str | None) -> None:
    """Put the newest item, dropping an unread older one: listeners only need the latest."""
    while True:
        try:
            queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()


SITE = web.AppKey("site", Site)


# --- middleware and headers -----------------------------------------------------------------


@web.middleware
async def bounded(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Errors as one readable line with the right status; every request but the event
    stream bounded in time."""
    site = request.app[SITE]
    try:
        if request.path == "/events":
            return await handler(request)
        return await asyncio.wait_for(handler(request), site.settings.request_timeout)
    except web.HTTPException:
        raise
    except TimeoutError:
        return _error(503, f"the request took longer than {site.settings.request_timeout:g} s")
    except pages.NotFound as exc:
        return _error(404, str(exc))
    except UsageError as exc:
        return _error(400, str(exc))
    except StoreError as exc:
        return _error(503, str(exc))
    except CutoverError as exc:
        return _error(500, str(exc))
    except Exception:  # a bug: the client gets one line, the server's log the traceback
        log.exception("cutover serve: %s %s failed", request.method, request.path)
        return _error(500, f"internal error answering {request.path}; the server log has it")


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=f"cutover: error: {message}\n", content_type="text/plain"
    )


class _RefusedRequests(logging.Filter):
    """Drop aiohttp's record of a request its parser refused (400): an error with the
    client's bytes and a traceback, one per request, that any client can send at will.  A
    bug in the server (any other exception) is still logged with its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        problem = record.exc_info[1] if record.exc_info else None
        return not isinstance(problem, HttpProcessingError)


def _quiet_protocol_log() -> logging.Logger:
    if not any(isinstance(f, _RefusedRequests) for f in protocol_log.filters):
        protocol_log.addFilter(_RefusedRequests())
    return protocol_log


class InertRecords(logging.Formatter):
    """The server's log on stderr, made inert like every other stderr line: the access log
    quotes the client's request line, Referer and User-Agent, and an error names the path it
    was asked for.  The message is one line (`terminal`); a traceback keeps its lines but
    loses every escape sequence and control character (`clean`)."""

    def format(self, record: logging.LogRecord) -> str:
        from cutover.render.text import clean, terminal

        message = terminal(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return message + (f"\n{clean(record.exc_text)}" if record.exc_text else "")


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


# --- routes ---------------------------------------------------------------------------------


def _query(request: web.Request) -> pages.Query:
    site = request.app[SITE]
    params = {k: v for k, v in request.query.items() if k in ("lang", "as_of")}
    return pages.Query.parse(params, site.ws.lang, site.settings.clock())


def _etag(version: str, query: pages.Query) -> str:
    return f'"{version}.{query.lang}"'


def _conditional(
    request: web.Request,
) -> tuple[pages.Query, str, str, web.Response | None]:
    """A request's query, the version it is answered under, its ETag, and a 304 when the
    client already has that version (nothing is computed then)."""
    query = _query(request)
    version = request.app[SITE].version
    etag = _etag(version, query)
    unchanged = None
    if _not_modified(request, etag):
        unchanged = web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    return query, version, etag, unchanged


def _not_modified(request: web.Request, etag: str) -> bool:
    return etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]


def _respond(request: web.Request, done: _Rendered, version: str, etag: str) -> web.Response:
    """The response for the version the request was computed under (not the site's version
    now, which may have moved meanwhile: the page must not believe it is newer than it is)."""
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Cutover-Version": version,
        "Vary": "Accept-Encoding",
    }
    body = done.body
    if len(body) > 1024 and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = done.gzipped()
        headers["Content-Encoding"] = "gzip"
    kind, charset = _mime(done)
    return web.Response(
        status=done.status, body=body, headers=headers, content_type=kind, charset=charset
    )


def _mime(done: _Rendered) -> tuple[str, str | None]:
    kind, _, rest = done.content_type.partition(";")
    charset = "utf-8" if "charset" in rest else None
    return kind.strip(), charset


async def _page(
    request: web.Request,
    template: str,
    build: Callable[[Store, pages.Query, datetime], dict[str, Any]],
    title: Callable[[dict[str, Any]], str],
) -> web.StreamResponse:
    site = request.app[SITE]
    query, version, etag, unchanged = _conditional(request)
    if unchanged is not None:
        return unchanged
    fragment = request.query.get("fragment") == "1"

    def make(store: Store) -> _Rendered:
        context = build(store, query, site.settings.clock())
        html = _html(
            site, request.path, query, template, context, title(context), version, fragment
        )
        return _Rendered(html.encode(), "text/html; charset=utf-8")

    key = (template, request.path, query.lang, query.as_of_text, str(fragment))
    return _respond(request, await site.rendered(version, key, make), version, etag)


def _html(
    site: Site,
    path: str,
    query: pages.Query,
    template: str,
    context: dict[str, Any],
    title: str,
    version: str,
    fragment: bool,
) -> str:
    from cutover.render.html import environment

    page = environment(query.lang).get_template(template)
    picker = context["picker"]
    chosen = [value for value, _ in picker["options"]].index(picker["chosen"])
    default = site.ws.lang
    live_pairs = {"lang": query.lang} if query.lang != default else {}
    suffix = query.suffix(default)
    variables = {
        **context,
        "lang": query.lang,
        "default_lang": default,
        "page_title": title,
        "path": path,
        "suffix": suffix,
        "lang_query": {
            code: urlencode({**({"lang": code} if code != default else {}), **_as_of_pair(query)})
            for code in ("vi", "en")
        },
        "live": query.live,
        "live_query": "?" + urlencode(live_pairs) if live_pairs else "",
        "live_every": f"{site.ws.live_every:g}",
        "fragment": path + "?" + urlencode({**live_pairs, "fragment": "1"}),
        "picker_index": chosen,
        "version": version,
    }
    if fragment:
        block = page.blocks["live"]
        return "".join(block(page.new_context(variables)))
    html: str = page.render(variables)
    return html


def _as_of_pair(query: pages.Query) -> dict[str, str]:
    return {"as_of": query.as_of_text} if query.as_of_text else {}


async def national(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    return await _page(
        request,
        "web/national.html.j2",
        lambda store, query, now: pages.national(site.ws, store, query, now),
        lambda context: str(context["report"].title),
    )


NAME_CHARS = 200  # a longer path segment names no province (and is not looked up)


def _by_name(request: web.Request, rest: str = "") -> None:
    """A province named in the URL by slug or name (`/province/hai-phong`, `/province/Hải
    Phòng`, as on the command line) is redirected to its code's URL, the query string kept;
    its code's URL itself, or a name of no province the page shows, goes on (to a 404)."""
    site = request.app[SITE]
    name = request.match_info["code"]
    shown = {p.code for p in site.ws.ctx.provinces}
    if name in shown or len(name) > NAME_CHARS:
        return
    try:
        found = site.ws.ctx.geo.find(name)
    except UsageError:  # unknown, or several provinces fit
        return
    if found.code not in shown:  # another role's province, or outside the selection
        return
    location = f"/province/{found.code}{rest}"
    if request.rel_url.raw_query_string:
        location += "?" + request.rel_url.raw_query_string
    raise web.HTTPMovedPermanently(location)


async def province(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    code = request.match_info["code"]
    _by_name(request)
    return await _page(
        request,
        "web/province.html.j2",
        lambda store, query, now: pages.province(site.ws, store, query, now, code),
        lambda context: str(context["province"]),
    )


async def drill_down(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    code, step = request.match_info["code"], request.match_info["step"]
    _by_name(request, "/communes/" + quote(step, safe=""))
    return await _page(
        request,
        "web/communes.html.j2",
        lambda store, query, now: pages.drill_down(site.ws, store, query, now, code, step),
        lambda context: (
            f"{context['province']} — {context['step'].number}. {context['step'].title}"
        ),
    )


async def matrix_json(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    query, version, etag, unchanged = _conditional(request)
    if unchanged is not None:
        return unchanged

    def make(store: Store) -> _Rendered:
        text = pages.matrix_json(site.ws, store, query, site.settings.clock())
        return _Rendered(text.encode(), "application/json; charset=utf-8")

    key = ("matrix.json", query.lang, query.as_of_text)
    return _respond(request, await site.rendered(version, key, make), version, etag)


async def metrics(request: web.Request) -> web.StreamResponse:
    """Computed for the current second: Prometheus scrapes on its own schedule and wants the
    time now; scrapes within one second (several Prometheus servers) share one computation."""
    site = request.app[SITE]

    def make(store: Store) -> _Rendered:
        text = pages.metrics(site.ws, store, site.settings.clock())
        return _Rendered(text.encode(), PROMETHEUS_TYPE)

    second = str(int(site.settings.monotonic()))
    done = await site.rendered(site.version, ("metrics", second), make)
    return web.Response(
        body=done.body, headers={"Content-Type": PROMETHEUS_TYPE, "Cache-Control": "no-store"}
    )


async def healthz(request: web.Request) -> web.StreamResponse:
    """200 when the store answers now and the watcher keeps the pages current; 503 with a
    one-line reason otherwise (the store's error, or the watcher's last failure)."""
    site = request.app[SITE]
    nocache = {"Cache-Control": "no-store"}
    try:
        marker = await site.read(lambda store: store.change_marker(), control=True)
    except CutoverError as exc:
        body = {"status": "unavailable", "error": str(exc)}
        return web.json_response(body, status=503, headers=nocache)
    behind = site.settings.monotonic() - site.healthy_at
    if site.problem or behind > 3 * site.ws.live_every + 10:
        error = site.problem or f"the pages were last brought up to date {behind:.0f} s ago"
        body = {"status": "degraded", "error": error, "version": site.version}
        return web.json_response(body, status=503, headers=nocache)
    return web.json_response(
        {"status": "ok", "version": site.version, "store": marker}, headers=nocache
    )


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the current version at once, then each new one."""
    site = request.app[SITE]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass events through unbuffered
        }
    )
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1)
    try:
        # A client may be gone before the headers are written (a tab hidden at once): that
        # is its choice, not an error of ours.
        await response.prepare(request)
        site.listeners.add(queue)
        await response.write(f"retry: 5000\nevent: version\ndata: {site.version}\n\n".encode())
        while True:
            try:
                version = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if version is None:  # the server is stopping
                break
            await response.write(f"event: version\ndata: {version}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        site.listeners.discard(queue)
    return response


def _static(name: str, body: bytes, content_type: str) -> Callable[..., Awaitable[web.Response]]:
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    async def handler(request: web.Request) -> web.Response:
        if _not_modified(request, etag):
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body,
            headers={"ETag": etag, "Cache-Control": "no-cache"},
            content_type=content_type,
        )

    handler.__name__ = name
    return handler


def style_sheet() -> bytes:
    """The report's own style sheet and the page's additions: one look for both."""
    from cutover.render.html import environment

    env = environment("en")
    css: str = env.get_template("style.css.j2").render()
    css += env.get_template("web/web.css.j2").render()
    return css.encode()


def create_app(site: Site) -> web.Application:
    app = web.Application(middlewares=[bounded])
    app[SITE] = site
    script = resources.files("cutover.web").joinpath("static/app.js").read_bytes()
    app.router.add_get("/", national)
    app.router.add_get("/province/{code}", province)
    app.router.add_get("/province/{code}/communes/{step}", drill_down)
    app.router.add_get("/matrix.json", matrix_json)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/events", events)
    app.router.add_get("/static/app.js", _static("app_js", script, "text/javascript"))
    app.router.add_get("/static/style.css", _static("style_css", style_sheet(), "text/css"))
    icon = resources.files("cutover.web").joinpath("static/favicon.svg").read_bytes()
    app.router.add_get("/favicon.ico", _static("favicon", icon, "image/svg+xml"))
    app.on_response_prepare.append(_secure)

    async def start_watching(app: web.Application) -> None:
        site.watcher = asyncio.create_task(site.watch())

    async def stop(app: web.Application) -> None:
        for queue in list(site.listeners):
            _offer(queue, None)  # let open event streams end, so shutdown does not wait
        if site.watcher is not None:
            site.watcher.cancel()

    app.on_startup.append(start_watching)
    app.on_shutdown.append(stop)
    return app


async def serve(
    site: Site,
    host: str,
    port: int,
    *,
    stop: asyncio.Event,
    ready: Callable[[str], None],
    access_log: bool = False,
) -> None:
    """Serve until `stop` is set.  The store is read once before listening, so a store that
    cannot be opened ends the command with its own message instead of a page of errors."""
    runner: web.AppRunner | None = None
    try:
        await site.narrow_to_reach()
        await site.check()
        site.healthy_at = site.settings.monotonic()
        app = create_app(site)
        runner = web.AppRunner(
            app,
            access_log=logging.getLogger("aiohttp.access") if access_log else None,
            logger=_quiet_protocol_log(),
            shutdown_timeout=2.0,
        )
        await runner.setup()
        where = web.TCPSite(runner, host, port, backlog=256)
        try:
            await where.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        ready(_address(where) + (f" (province {site.scope} only)" if site.scope else ""))
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        site.close()


def _address(where: web.TCPSite) -> str:
    """The URL actually listened on (port 0 picks a free port)."""
    server = where._server  # the asyncio server: the only place the chosen port is known
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"
    return where.name
