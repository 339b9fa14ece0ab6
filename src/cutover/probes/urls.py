"""Where a probe may go when a server tells it: a redirect's Location, or an OIDC discovery
document's `jwks_uri` and `authorization_endpoint`.

Only http(s), and never into a loopback, private or link-local address unless the probe's own
URL is already in that class (the simulator on 127.0.0.1) or the probe says
`allow_private: true`: a public server must not be able to aim the prober at the machine or the
network it runs in.  Host names count by the addresses they resolve to.  The check resolves the
name before aiohttp does, so a name that changes its answer in between is not caught.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urljoin, urlsplit

from cutover.probes.base import Resolve, Undecided

AddressClass = Literal["public", "loopback", "link-local", "private"]


def address_class(address: str) -> AddressClass:
    """Raises ValueError when `address` is not an IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast or not ip.is_global:
        return "private"  # RFC 1918, unique local, shared, documentation and reserved ranges
    return "public"


async def host_classes(host: str, resolve: Resolve) -> set[AddressClass]:
    """The classes of every address `host` stands for; empty when a name does not resolve."""
    try:
        return {address_class(host.strip("[]"))}
    except ValueError:
        pass
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        return {"loopback"}  # RFC 6761: never ask DNS about it
    return {address_class(a) for a in await resolve(host)}


def absolute(base: str, location: str, what: str) -> str:
    """`location` resolved against `base`; a malformed one is undecided, not a crash."""
    try:
        url = urljoin(base, location)
        urlsplit(url).port  # noqa: B018  (raises ValueError on a bad port or IPv6 literal)
    except ValueError as exc:
        raise Undecided(f"{what} malformed location {location!r} ({exc})") from None
    return url


class Follow:
    """The URLs one probe may follow, judged against its own URL."""

    def __init__(self, own_url: str, *, allow_private: bool, resolve: Resolve) -> None:
        self._own_host = urlsplit(own_url).hostname or ""
        self._allow_private = allow_private
        self._resolve = resolve
        self._own: set[AddressClass] | None = None

    async def check(self, url: str, what: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Undecided(f"{what} {url}: only http and https are followed")
        if not parts.hostname:
            raise Undecided(f"{what} {url}: no host")
        if self._allow_private or parts.hostname == self._own_host:
            return  # the probe's own host is in its own class by definition
        if self._own is None:
            self._own = await host_classes(self._own_host, self._resolve)
        refused = await host_classes(parts.hostname, self._resolve) - {"public"} - self._own
        if refused:
            raise Undecided(
                f"{what} {url}: not followed into a {min(refused)} address "
                "(the probe's own URL is not; allow_private: true permits it)"
            )
