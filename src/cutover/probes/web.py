"""What every probe over HTTP shares: request headers, basic auth, trust, and whether it may be
sent into private addresses.  Headers and credentials go to the probe's own origin only, never
to a host a redirect or a discovery document names."""

from __future__ import annotations

import base64
import contextlib
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pydantic import Field, model_validator

from cutover.models import Strict
from cutover.probes.base import ProbeContext, ProbeSpec, Undecided
from cutover.probes.urls import Follow
from cutover.records import quick_init

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping


class BasicAuth(Strict):
    user: str
    password: str


def basic_credential(user: str, password: str, encoding: str = "utf-8") -> str:
    """The base64 token of an `Authorization: Basic` header (RFC 7617)."""
    return base64.b64encode(f"{user}:{password}".encode(encoding)).decode("ascii")


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


@quick_init
@dataclass(frozen=True, slots=True)
class Request:
    """How a probe's requests are made.  `origin` is where its headers may be sent."""

    origin: str
    headers: Mapping[str, str]
    ssl: bool | ssl.SSLContext

    def headers_for(self, url: str) -> Mapping[str, str]:
        return self.headers if origin(url) == origin(self.origin) else {}


@functools.lru_cache(maxsize=32)
def trusting(ca_file: str) -> ssl.SSLContext:
    """The system's trust anchors plus the ones in `ca_file` (cached: loading costs ms)."""
    import ssl

    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise Undecided(f"cannot load ca_file {ca_file}: {exc}") from None
    return context


class WebProbe(ProbeSpec):
    headers: dict[str, str] = Field(default_factory=dict)  # a factory: no deepcopy per probe
    basic_auth: BasicAuth | None = None
    ca_file: str | None = None  # extra trust anchor, e.g. a government CA bundle
    allow_private: bool = False  # follow redirects/discovered URLs into private addresses

    def own_url(self) -> str:
        raise NotImplementedError

    def host_key(self) -> str | None:
        try:
            return urlsplit(self.own_url()).hostname
        except ValueError:
            return None  # the request will say what is wrong with the URL

    @model_validator(mode="after")
    def _one_authorization(self) -> WebProbe:
        if self.basic_auth and any(k.lower() == "authorization" for k in self.headers):
            raise ValueError("give either basic_auth or an Authorization header, not both")
        return self

    def request(self) -> Request | None:
        """How this probe's requests are made; None for a plain request (no headers of its
        own, TLS verified against the system's trust anchors), which `fetch` makes as it is."""
        if not (self.headers or self.basic_auth or self.insecure or self.ca_file):
            return None  # the common case, once per probe: no record to make
        headers = dict(self.headers)
        if self.basic_auth:
            auth = self.basic_auth
            headers["Authorization"] = "Basic " + basic_credential(auth.user, auth.password)
        tls: bool | ssl.SSLContext = not self.insecure
        if tls and self.ca_file:
            tls = trusting(self.ca_file)
        return Request(self.own_url(), headers, tls)

    def derived_credentials(self) -> list[str]:
        """The Basic credentials made of basic_auth and of the URL's user-info (which aiohttp
        sends encoded as Latin-1, or not at all)."""
        derived = []
        if self.basic_auth:
            derived.append(basic_credential(self.basic_auth.user, self.basic_auth.password))
        try:
            parts = urlsplit(self.own_url())
        except ValueError:
            return derived
        if parts.username is not None or parts.password is not None:
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            with contextlib.suppress(UnicodeEncodeError):  # aiohttp cannot send it either
                derived.append(basic_credential(user, password, "latin-1"))
        return derived

    def follow(self, ctx: ProbeContext) -> Follow:
        return Follow(self.own_url(), allow_private=self.allow_private, resolve=ctx.resolve)
