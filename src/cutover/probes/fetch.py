"""One HTTP request with the engine's limits: retries for connection errors and 5xx, a body cap.

Everything that means "could not find out" becomes `Undecided` with a one-line reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cutover.probes.base import ProbeContext, Undecided


@dataclass(frozen=True)
class Response:
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

    def require_whole(self) -> None:
        if self.truncated:
            raise Undecided(
                f"{self.url}: response body exceeds the {len(self.body) - 1:,} byte cap"
            )


async def fetch(
    ctx: ProbeContext,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    insecure: bool = False,
) -> Response:
    """A single request, redirects not followed (probes that follow do it themselves)."""
    import asyncio

    import aiohttp

    if ctx.session is None:
        raise Undecided("no HTTP session")
    limits = ctx.limits
    last = ""
    for attempt in range(limits.retries + 1):
        if attempt:
            await asyncio.sleep(limits.backoff * 2 ** (attempt - 1))
        start = time.perf_counter()
        try:
            async with ctx.session.request(
                method,
                url,
                headers=headers,
                allow_redirects=False,
                ssl=not insecure,
            ) as resp:
                body = await _read_capped(resp.content, limits.max_body)
                elapsed = (time.perf_counter() - start) * 1000
                if resp.status >= 500 and attempt < limits.retries:
                    last = f"HTTP {resp.status}"
                    continue
                return Response(
                    resp.status,
                    dict(resp.headers),
                    body,
                    str(resp.url),
                    elapsed,
                    len(body) > limits.max_body,
                )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise Undecided(
                f"{url}: TLS certificate not trusted ({exc.certificate_error})"
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise Undecided(f"{url}: TLS handshake failed ({exc})") from None
        except aiohttp.ClientConnectorDNSError:
            raise Undecided(f"{url}: DNS lookup failed for {urlsplit(url).hostname}") from None
        except aiohttp.InvalidURL:
            raise Undecided(f"invalid URL {url!r}") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except aiohttp.ClientResponseError as exc:
            raise Undecided(f"{url}: malformed response ({exc.message})") from None
    raise Undecided(f"{url}: {_plain(last)} after {limits.retries + 1} attempts")


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
    return b"".join(chunks)


def _plain(reason: str) -> str:
    return reason.replace("ServerDisconnectedError: ", "").replace("ClientOSError: ", "")
