"""`oidc`: discovery, issuer, JWKS, and an authorize request that redirects to a login page."""

from __future__ import annotations

import re
import secrets
from typing import Any, Literal
from urllib.parse import urlencode, urljoin

from pydantic import field_validator

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided
from cutover.probes.conditions import check_regex
from cutover.probes.fetch import fetch


class OidcSpec(ProbeSpec):
    kind: Literal["oidc"]
    issuer: Url
    client_id: str
    redirect_uri: Url
    scope: str = "openid"
    acr_values: str | None = None
    login_url: str = r"/login"
    discovery: str | None = None  # default: {issuer}/.well-known/openid-configuration

    _regex = field_validator("login_url")(check_regex)

    def summary(self) -> str:
        return f"oidc {self.issuer} client {self.client_id}"

    async def run(self, ctx: ProbeContext) -> Outcome:
        url = self.discovery or f"{self.issuer}/.well-known/openid-configuration"
        resp = await fetch(ctx, url, insecure=self.insecure)
        if resp.status != 200:
            return Outcome.fail(f"discovery {url} returned {resp.status}, expected 200")
        config = resp.json()
        if not isinstance(config, dict):
            raise Undecided(f"discovery {url} is not a JSON object")
        if config.get("issuer") != self.issuer:
            return Outcome.fail(f"expected issuer {self.issuer}, got {config.get('issuer')!r}")
        for key in ("authorization_endpoint", "jwks_uri"):
            if not isinstance(config.get(key), str):
                return Outcome.fail(f"discovery document has no {key}")
        if problem := await self._jwks(ctx, config["jwks_uri"]):
            return Outcome.fail(problem)
        return await self._authorize(ctx, config)

    async def _jwks(self, ctx: ProbeContext, jwks_uri: str) -> str | None:
        resp = await fetch(ctx, jwks_uri, insecure=self.insecure)
        if resp.status != 200:
            return f"jwks_uri {jwks_uri} returned {resp.status}, expected 200"
        keys = resp.json()
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list) or not keys["keys"]:
            return f"jwks_uri {jwks_uri} has no keys"
        return None

    async def _authorize(self, ctx: ProbeContext, config: dict[str, Any]) -> Outcome:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": secrets.token_urlsafe(8),
        }
        if self.acr_values:
            params["acr_values"] = self.acr_values
        endpoint = config["authorization_endpoint"]
        resp = await fetch(ctx, f"{endpoint}?{urlencode(params)}", insecure=self.insecure)
        location = urljoin(endpoint, resp.location or "")
        if resp.status in (302, 303) and re.search(self.login_url, location):
            # Without the random state, so an unchanged answer is recognised as the same.
            return Outcome.ok(_without_state(location))
        got = f"{resp.status} to {location}" if resp.location else f"{resp.status}"
        detail = _error_detail(resp.body)
        return Outcome.fail(
            f"authorize for client {self.client_id} answered {got}{detail}, "
            f"expected a redirect to a login page matching {self.login_url}"
        )


def _without_state(url: str) -> str:
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _error_detail(body: bytes) -> str:
    match = re.search(rb'"error"\s*:\s*"([^"]{1,60})"', body)
    return f" ({match[1].decode(errors='replace')})" if match else ""
