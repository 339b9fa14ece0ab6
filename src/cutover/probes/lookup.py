"""Name lookups, each on a thread of its own, so that a DNS server that never answers costs
the probes of its own names only.

asyncio resolves names on the loop's default executor: min(32, CPUs + 4) threads, 6 on two
cores.  A lookup that no server answers holds its thread until the system resolver gives up
(resolv.conf's timeout × attempts, 10 s by default: longer than a probe's timeout), and
cancelling the probe does not free it.  Once as many names hung as the pool had threads,
every other probe of a run queued behind them and timed out, healthy names from /etc/hosts
included; and `asyncio.run` then waited for those threads before the command could end.

Here every lookup runs `socket.getaddrinfo` (the system resolver, as before: /etc/hosts,
nsswitch, resolv.conf) on a new daemon thread.  The engine has at most `jobs` probes running,
aiohttp shares one lookup between the probes of a host and caches answers, so the threads
stay few; a hung one ends with the resolver's own timeout or with the process, which does not
wait for it.  Every lookup of the probes goes through here: aiohttp's (`resolver`), `dns`
probes, `tcp` and `tls` probes (`connect`), and the classification of followed URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")
# family, type, proto, canonical name, address: what `socket.getaddrinfo` returns
AddressInfo = tuple[Any, ...]


async def _on_own_thread(call: Callable[[], T]) -> T:
    """`call()` on a new daemon thread; its result or exception, without holding a thread of
    any pool while it runs."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if answer.done():  # the probe timed out or was cancelled meanwhile
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result)

    def run() -> None:
        result, error = None, None
        try:
            result = call()
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="cutover-lookup", daemon=True).start()
    return await answer


async def getaddrinfo(
    host: str | None,
    port: str | int | None,
    *,
    family: int = 0,
    type: int = 0,  # the name asyncio's and socket's signatures use
    proto: int = 0,
    flags: int = 0,
) -> list[AddressInfo]:
    """`loop.getaddrinfo`, on a thread of its own."""
    return await _on_own_thread(
        lambda: list(socket.getaddrinfo(host, port, family, type, proto, flags))
    )


async def getnameinfo(sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
    """`loop.getnameinfo`, on a thread of its own."""
    return await _on_own_thread(lambda: socket.getnameinfo(sockaddr, flags))


async def connect(host: str, port: int) -> socket.socket:
    """A connected non-blocking socket to `host`:`port`, as `loop.create_connection` makes
    one (each address in the resolver's order; the error of the only attempt, or of all when
    they read alike, else one error naming them all), with the lookup done here."""
    loop = asyncio.get_running_loop()
    infos = await getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if len(errors) == 1 or all(str(e) == str(errors[0]) for e in errors):
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(e) for e in errors)}")


class _Lookups:
    """The two methods aiohttp's ThreadedResolver asks of its loop, done here."""

    getaddrinfo = staticmethod(getaddrinfo)
    getnameinfo = staticmethod(getnameinfo)


def resolver() -> aiohttp.abc.AbstractResolver:
    """aiohttp's threaded resolver (its handling of answers, link-local IPv6 included), with
    each lookup on a thread of its own."""
    import aiohttp

    return aiohttp.ThreadedResolver(loop=_Lookups())  # type: ignore[arg-type]
