"""`oidc`: discovery, issuer, JWKS, and an authorize request that redirects to a login page.

The login page must be on the issuer's origin; an answer that sends the browser straight back
to the client's `redirect_uri` with `error=` is a refusal, whatever the login pattern says.
"""

from __future__ import annotations

import re
from secrets import token_urlsafe
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, Undecided
from cutover.probes.conditions import Regex
from cutover.probes.fetch import REDIRECTS, fetch
from cutover.probes.urls import Follow, absolute
from cutover.probes.web import WebProbe, origin


class OidcSpec(WebProbe):
    kind: Literal["oidc"]
    issuer: Url
    client_id: str
    redirect_uri: Url
    scope: str = "openid"
    acr_values: str | None = None
    login_url: Regex = r"/login"
    discovery: Url | None = None  # default: {issuer}/.well-known/openid-configuration

    def summary(self) -> str:
        return f"oidc {self.issuer} client {self.client_id}"

    def own_url(self) -> str:
        return self.discovery or f"{self.issuer}/.well-known/openid-configuration"

    async def run(self, ctx: ProbeContext) -> Outcome:
        url = self.own_url()
        resp = await fetch(ctx, url, self.request())
        if resp.status != 200:
            return Outcome.fail(f"discovery {url} returned {resp.status}, expected 200")
        config = resp.json()
        if not isinstance(config, dict):
            raise Undecided(f"discovery {url} is not a JSON object")
        if config.get("issuer") != self.issuer:
            return Outcome.fail(f"expected issuer {self.issuer}, got {config.get('issuer')!r}")
        follow = self.follow(ctx)
        for key in ("authorization_endpoint", "jwks_uri"):
            if not isinstance(config.get(key), str):
                return Outcome.fail(f"discovery document has no {key}")
            await follow.check(absolute(url, config[key], key), key)
        if problem := await self._jwks(ctx, absolute(url, config["jwks_uri"], "jwks_uri")):
            return Outcome.fail(problem)
        endpoint = absolute(url, config["authorization_endpoint"], "authorization_endpoint")
        return await self._authorize(ctx, endpoint, follow)

    async def _jwks(self, ctx: ProbeContext, jwks_uri: str) -> str | None:
        resp = await fetch(ctx, jwks_uri, self.request())
        if resp.status != 200:
            return f"jwks_uri {jwks_uri} returned {resp.status}, expected 200"
        keys = resp.json()
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list) or not keys["keys"]:
            return f"jwks_uri {jwks_uri} has no keys"
        return None

    async def _authorize(self, ctx: ProbeContext, endpoint: str, follow: Follow) -> Outcome:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": token_urlsafe(8),
        }
        if self.acr_values:
            params["acr_values"] = self.acr_values
        joiner = "&" if urlsplit(endpoint).query else "?"
        resp = await fetch(ctx, f"{endpoint}{joiner}{urlencode(params)}", self.request())
        who = f"authorize for client {self.client_id}"
        location = resp.location
        if resp.status in REDIRECTS and location:
            location = absolute(endpoint, location, f"{who} redirected to")
            if error := self._refusal(location):
                return Outcome.fail(f"{who} redirected back to {self.redirect_uri} with {error}")
            if origin(location) != origin(self.issuer):
                host = urlsplit(self.issuer).netloc
                return Outcome.fail(f"{who} redirected to {location}, off the issuer's host {host}")
            if re.search(self.login_url, location):
                # Without the random state, so an unchanged answer is recognised as the same.
                return Outcome.ok(_without_state(location))
        got = f"{resp.status} to {location}" if location else f"{resp.status}"
        return Outcome.fail(
            f"{who} answered {got}{_error_detail(resp.body)}, "
            f"expected a redirect to a login page matching {self.login_url}"
        )

    def _refusal(self, location: str) -> str | None:
        """`error=…` when the authorize answer went back to the client instead of to a login."""
        here, there = urlsplit(location), urlsplit(self.redirect_uri)
        if origin(location) != origin(self.redirect_uri) or here.path != there.path:
            return None
        fields: dict[str, Any] = {**parse_qs(here.fragment), **parse_qs(here.query)}
        if "error" not in fields:
            return None
        text = f"error={fields['error'][0]}"
        if "error_description" in fields:
            text += f" ({fields['error_description'][0][:100]})"
        return text


def _without_state(url: str) -> str:
    from urllib.parse import parse_qsl, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _error_detail(body: bytes) -> str:
    match = re.search(rb'"error"\s*:\s*"([^"]{1,60})"', body)
    return f" ({match[1].decode(errors='replace')})" if match else ""
