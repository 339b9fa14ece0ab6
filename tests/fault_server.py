"""A hostile HTTP server on loopback: every way a real server can fail a probe.

Raw asyncio streams rather than aiohttp.web, because most of these faults break HTTP itself.
One event loop in a daemon thread serves a plain listener and four TLS listeners (a valid
certificate for `localhost` from a test CA, an expired one, one for another host, and a
self-signed one).  The request path chooses the behaviour; see `ROUTES`.  Big bodies are
streamed in chunks and stop when the client hangs up: nothing here is ever materialised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

Writer = asyncio.StreamWriter
Handler = Callable[["FaultServer", Writer, str, dict[str, str]], Awaitable[None]]
CHUNK = 64 * 1024
TWO_GIB = 2 * 1024**3
ROUTES: dict[str, Handler] = {}


def route(path: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES[path] = handler
        return handler

    return register


def head(status: int, headers: dict[str, str] | None = None, version: str = "1.1") -> bytes:
    lines = [f"HTTP/{version} {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer(writer: Writer, status: int, body: bytes = b"", **headers: str) -> None:
    fields = {"Content-Length": str(len(body)), "Connection": "close", **headers}
    writer.write(head(status, {k.replace("_", "-"): v for k, v in fields.items()}) + body)
    await writer.drain()


async def answer_json(writer: Writer, data: object, status: int = 200) -> None:
    await answer(writer, status, json.dumps(data).encode(), Content_Type="application/json")


async def forever() -> None:
    await asyncio.sleep(3600)


@route("/ok")
async def ok(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer_json(w, {"ok": True, "count": 3, "items": [1, 2, 3]})


@route("/hang")  # accepted, then nothing
async def hang(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await forever()


@route("/hang-after-headers")
async def hang_after_headers(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    w.write(head(200, {"Content-Type": "application/json", "Content-Length": "100"}))
    await w.drain()
    await forever()


@route("/drip")  # a byte every 50 ms of a 100 kB body
async def drip(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    w.write(head(200, {"Content-Type": "text/plain", "Content-Length": "100000"}))
    for _ in range(100_000):
        w.write(b"x")
        await w.drain()
        await asyncio.sleep(0.05)


@route("/drip-headers")  # the status line and headers, a byte every 50 ms
async def drip_headers(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    for byte in head(200, {"X-Slow": "y" * 10_000}):
        w.write(bytes([byte]))
        await w.drain()
        await asyncio.sleep(0.05)


@route("/reset")  # TCP RST instead of an answer
async def reset(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()


@route("/5xx")  # 503 every time
async def always_503(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer(w, 503, b"busy")


@route("/flaky")  # 503 twice per `key`, then 200
async def flaky(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    key = q.get("key", "")
    server.hits[key] = server.hits.get(key, 0) + 1
    if server.hits[key] <= 2:
        await answer(w, 503, b"busy")
    else:
        await answer_json(w, {"ok": True})


@route("/invalid-json")
async def invalid_json(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer(w, 200, b'{"units": [{"code": "0', Content_Type="application/json")


@route("/deep-json")  # 200,000 nested arrays: json.loads raises RecursionError
async def deep_json(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer(w, 200, b"[" * 200_000 + b"]" * 200_000, Content_Type="application/json")


@route("/huge")  # announces 2 GiB and streams zeros while the client reads
async def huge(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    w.write(head(200, {"Content-Type": "application/json", "Content-Length": str(TWO_GIB)}))
    zeros = bytes(CHUNK)
    for _ in range(TWO_GIB // CHUNK):
        w.write(zeros)
        await w.drain()


@route("/endless")  # chunked, never ends
async def endless(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    w.write(head(200, {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"}))
    chunk = f"{CHUNK:x}\r\n".encode() + b"y" * CHUNK + b"\r\n"
    while True:
        w.write(chunk)
        await w.drain()


@route("/gzip-bomb")  # 2 MiB on the wire, 2 GiB once decompressed
async def gzip_bomb(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    member = server.gzip_member()
    w.write(head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, "1.0"))
    for _ in range(TWO_GIB // BOMB_MEMBER):
        w.write(member)
        await w.drain()


@route("/loop/a")
async def loop_a(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer(w, 302, Location="/loop/b")


@route("/loop/b")
async def loop_b(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer(w, 302, Location="/loop/a")


@route("/chain")  # /chain?n=3 -> 2 -> 1 -> 0, each with a different redirect status
async def chain(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    n = int(q.get("n", "0"))
    if n == 0:
        await answer(w, 200, b"<h1>end of the chain</h1>", Content_Type="text/html")
    else:
        status = (301, 302, 303, 307, 308)[n % 5]
        await answer(w, status, Location=f"/chain?n={n - 1}")


@route("/to")  # a redirect to whatever `location` says, verbatim
async def redirect_to(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    await answer(w, 302, Location=q["location"])


@route("/many-headers")
async def many_headers(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    fields = {f"X-Header-{i}": "v" for i in range(10_000)}
    w.write(head(200, {**fields, "Content-Length": "2", "Connection": "close"}) + b"{}")
    await w.drain()


@route("/http10")  # HTTP/1.0, no Content-Length: the body ends when the connection does
async def http10(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    w.write(head(200, {"Content-Type": "application/json"}, "1.0") + b'{"ok": true}')
    await w.drain()


@route("/echo")  # what the probe sent (every request is also recorded in `seen`)
async def echo(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    seen = server.seen[-1]
    # `path` and `query` decoded, as an application reads them; `target` as it came
    sent = {"query": q, "authorization": seen["headers"], "path": unquote(path)}
    await answer_json(w, {**sent, "target": seen["target"]})


@route("/oidc")  # an OpenID provider whose behaviour is the second path segment
async def oidc(server: FaultServer, w: Writer, path: str, q: dict[str, str]) -> None:
    parts = path.split("/")  # ['', 'oidc', variant, ...rest]
    variant, rest = parts[2], "/".join(parts[3:])
    issuer = f"{server.origin(w)}/oidc/{variant}"
    if rest == ".well-known/openid-configuration":
        jwks = {"jwks-file": "file:///etc/passwd", "jwks-private": "http://10.255.255.1/jwks"}
        await answer_json(
            w,
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "jwks_uri": jwks.get(variant, f"{issuer}/jwks"),
            },
        )
    elif rest == "jwks":
        await answer_json(w, {"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}]})
    elif rest == "authorize":
        status, location = _authorize(variant, issuer, q)
        await answer(w, status, Location=location)
    else:
        await answer(w, 404)


def _authorize(variant: str, issuer: str, q: dict[str, str]) -> tuple[int, str]:
    login = f"{issuer}/login?state={q.get('state', '')}"
    if variant == "error":
        return 302, f"{q['redirect_uri']}?error=access_denied&error_description=client+disabled"
    if variant == "elsewhere":
        return 302, f"https://login.example.net/login?state={q.get('state', '')}"
    return (int(variant) if variant.isdigit() else 302), login


BOMB_MEMBER = 64 * 1024**2  # decompressed size of one gzip member of the bomb


class FaultServer:
    """`with FaultServer(tmp) as s:` then `s.url("/hang")`, `s.tls_url("expired", "/ok")`."""

    TLS = ("valid", "expired", "wrong-host", "self-signed")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = trustme.CA()
        self.ca_file = directory / "fault-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.hits: dict[str, int] = {}
        self.seen: list[dict[str, Any]] = []  # every request: path, query, headers
        self.ports: dict[str, int] = {}
        self._member: bytes | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True, name="fault-server")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports['plain']}{path}"

    def tls_url(self, variant: str, path: str) -> str:
        return f"https://localhost:{self.ports[variant]}{path}"

    def origin(self, writer: Writer) -> str:
        host, port = writer.get_extra_info("sockname")[:2]
        scheme = "https" if writer.get_extra_info("sslcontext") else "http"
        return f"{scheme}://{'localhost' if scheme == 'https' else host}:{port}"

    def gzip_member(self) -> bytes:
        if self._member is None:
            packer = zlib.compressobj(9, zlib.DEFLATED, 31)
            zeros = bytes(1024**2)
            data = b"".join(packer.compress(zeros) for _ in range(BOMB_MEMBER // len(zeros)))
            self._member = data + packer.flush()
        return self._member

    def __enter__(self) -> FaultServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        contexts: dict[str, ssl.SSLContext | None] = {"plain": None}
        contexts |= {variant: self._tls(variant) for variant in self.TLS}
        servers = []
        for name, context in contexts.items():
            server = await asyncio.start_server(self._client, "127.0.0.1", 0, ssl=context)
            self.ports[name] = server.sockets[0].getsockname()[1]
            servers.append(server)
        self._ready.set()
        await self._stop.wait()
        for server in servers:
            server.close()

    def _tls(self, variant: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if variant == "self-signed":
            alone = trustme.CA()  # a CA certificate is self-signed: serve it as the leaf
            cert, key = self.directory / "self.pem", self.directory / "self.key"
            alone.cert_pem.write_to_path(str(cert))
            alone.private_key_pem.write_to_path(str(key))
            context.load_cert_chain(cert, key)
            return context
        now = datetime.now(UTC)
        leaf = {
            "valid": lambda: self.ca.issue_cert("localhost", "127.0.0.1"),
            "expired": lambda: self.ca.issue_cert(
                "localhost", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
            ),
            "wrong-host": lambda: self.ca.issue_cert("portal.example.org"),
        }[variant]()
        leaf.configure_cert(context)
        return context

    async def _client(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        # Hung handlers are cancelled when the server stops: that is their normal end.
        quiet = (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.CancelledError)
        with contextlib.suppress(*quiet):
            try:
                target = await self._request(reader, writer)
                if target is not None:
                    path, query = target
                    handler = ROUTES.get(path) or ROUTES.get("/" + path.split("/")[1])
                    if handler is None:
                        await answer(writer, 404, b"no such fault")
                    else:
                        await handler(self, writer, path, query)
            finally:
                writer.close()

    async def _request(
        self, reader: asyncio.StreamReader, writer: Writer
    ) -> tuple[str, dict[str, str]] | None:
        """The path and query of one request; a request that is not HTTP (a TLS hello on the
        plain port) gets a 400, as a real server would answer it."""
        line = await reader.readline()
        method, _, rest = line.decode("latin-1").partition(" ")
        if not method.isalpha() or not method.isupper():
            await answer(writer, 400, b"not HTTP")
            return None
        headers = {}
        while (field := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = field.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        target = rest.rsplit(" ", 1)[0]
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.seen.append({"path": parts.path, "query": query, "headers": headers, "target": target})
        return parts.path, query
