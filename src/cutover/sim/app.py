"""The simulator's aiohttp.web application.

Paths (one host): /national (the National Public Service Portal and its API), /sso (its
OpenID Connect provider), /edoc (the agency e-ID registry), /p/{code}/portal (each provincial
portal), /p/{code}/procedures (each provincial procedure system), /_sim (control).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cutover.geo import Geography, Province
from cutover.sim import faults
from cutover.sim.scenario import Scenario, validate_scenario_data


class SimState:
    def __init__(self, scenario: Scenario, geo: Geography) -> None:
        self.scenario = scenario
        self.geo = geo
        # Agency e-ID suffixes: the known level-1 codes' last group, else an invented one.
        self.eid_suffix = {
            p.code: (p.spec.eid_code.rsplit(".", 1)[1] if p.spec.eid_code else f"X{i:02d}")
            for i, p in enumerate(geo.provinces, 1)
        }
        self.commune_province = {c.code: p for p in geo.provinces for c in p.communes}
        self.check(scenario)

    def check(self, scenario: Scenario) -> None:
        """Refuse a scenario that stages communes that do not exist."""
        from cutover.errors import UsageError

        unknown = scenario.unknown_communes(set(self.commune_province))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
            raise UsageError(f"scenario {scenario.id}: no commune {shown} in the geography")

    def province(self, code: str) -> Province:
        province = self.geo.by_code.get(code)
        if province is None:
            raise web.HTTPNotFound(text=f"no province {code}")
        return province

    def passes(self, feature: str, code: str) -> bool:
        return self.scenario.passes(feature, code)


STATE = web.AppKey("state", SimState)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _state(request: web.Request) -> SimState:
    state: SimState = request.app[STATE]
    return state


def _page(title: str, body: str) -> web.Response:
    html = (
        f"<!doctype html><html lang=vi><meta charset=utf-8><title>{escape(title)}</title>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=html, content_type="text/html")


# --- National Public Service Portal -------------------------------------------------------


async def national_home(request: web.Request) -> web.Response:
    return _page("Cổng Dịch vụ công quốc gia", "<p>dichvucong.gov.vn (simulated)</p>")


async def units(request: web.Request) -> web.Response:
    state = _state(request)
    province = state.province(request.match_info["code"])
    declared = list(province.communes)
    if not state.passes("units_declared", province.code):
        declared = declared[: max(0, len(declared) - 2)]
    return web.json_response(
        {
            "province": province.code,
            "units": [{"code": c.code, "name": c.name, "type": c.type} for c in declared],
        }
    )


def commune_tested(state: SimState, commune: str, code: str) -> bool:
    return state.scenario.commune_tested(commune, code)


async def filing_tests(request: web.Request) -> web.Response:
    state = _state(request)
    commune = request.match_info["commune"]
    province = state.commune_province.get(commune)
    if province is None:
        raise web.HTTPNotFound(text=f"no commune {commune}")
    records = (
        1 + zlib.crc32(commune.encode()) % 3 if commune_tested(state, commune, province.code) else 0
    )
    return web.json_response({"commune": commune, "province": province.code, "records": records})


async def dossier_sync(request: web.Request) -> web.Response:
    state = _state(request)
    code = state.province(request.match_info["code"]).code
    total = 1000 + int(code) * 37
    unsynced = 0 if state.passes("dossier_synced", code) else 12 + int(code) % 40
    return web.json_response({"province": code, "total": total, "unsynced": unsynced})


async def payment_latest(request: web.Request) -> web.Response:
    state = _state(request)
    code = state.province(request.match_info["code"]).code
    base = {
        "dossier": f"H{code}.25-0628-0001",
        "procedure": "1.001234",
        "fee": "LP-01",
        "amount": 50000,
        "beneficiary_bank": "Kho bạc Nhà nước",
    }
    if state.passes("payment_tested", code):
        return web.json_response({**base, "result": "success", "returned_to_province": True})
    return web.json_response(
        {
            **base,
            "result": "failed",
            "returned_to_province": False,
            "error": "beneficiary account not configured",
        }
    )


async def promotion_notices(request: web.Request) -> web.Response:
    state = _state(request)
    code = state.province(request.match_info["code"]).code
    unprocessed = 0 if state.passes("promotion_intake", code) else 3
    return web.json_response(
        {"province": code, "sent": 12, "received": 12 - unprocessed, "unprocessed": unprocessed}
    )


# --- OpenID Connect provider -----------------------------------------------------------------


def _jwk() -> dict[str, str]:
    modulus = hashlib.sha512(b"cutover simulator signing key").digest() * 4  # 2048 bits, fake
    n = base64.urlsafe_b64encode(modulus).rstrip(b"=").decode()
    return {"kty": "RSA", "kid": "sim-1", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"}


async def discovery(request: web.Request) -> web.Response:
    _state(request)
    issuer = f"{_origin(request)}/sso"
    return web.json_response(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth2/authorize",
            "token_endpoint": f"{issuer}/oauth2/token",
            "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "scopes_supported": ["openid"],
            "acr_values_supported": ["LoA1", "LoA2"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
    )


async def jwks(request: web.Request) -> web.Response:
    _state(request)
    return web.json_response({"keys": [_jwk()]})


async def authorize(request: web.Request) -> web.Response:
    state = _state(request)
    q = request.query
    client = q.get("client_id", "")
    code = client.removeprefix("dvc-")
    if (
        not client.startswith("dvc-")
        or code not in state.geo.by_code
        or not state.passes("sso_client", code)
    ):
        return web.json_response(
            {"error": "invalid_client", "error_description": f"unknown client {client}"}, status=400
        )
    expected = f"{_origin(request)}/p/{code}/procedures/oauth2/callback"
    if q.get("redirect_uri") != expected or q.get("response_type") != "code":
        return web.json_response(
            {"error": "invalid_request", "error_description": "redirect_uri not registered"},
            status=400,
        )
    raise web.HTTPFound(
        f"/sso/login?{urlencode({'client_id': client, 'state': q.get('state', '')})}"
    )


async def login(request: web.Request) -> web.Response:
    return _page("Đăng nhập bằng VNeID", "<form method=post><button>VNeID</button></form>")


# --- Agency e-ID registry ------------------------------------------------------------------


async def agencies(request: web.Request) -> web.Response:
    state = _state(request)
    province = state.province(request.query.get("province", ""))
    listed: list[dict[str, Any]] = []
    if state.passes("eid_codes", province.code):
        suffix = state.eid_suffix[province.code]
        listed = [
            {"code": f"{i // 100 + 1:03d}.{i % 100:02d}.00.{suffix}", "name": f"UBND {c.name}"}
            for i, c in enumerate(province.communes)
        ]
    return web.json_response({"province": province.code, "agencies": listed})


# --- Provincial portals and procedure systems ----------------------------------------------


async def portal(request: web.Request) -> web.Response:
    state = _state(request)
    province = state.province(request.match_info["code"])
    if state.passes("portal_closed", province.code):
        raise web.HTTPFound(f"{_origin(request)}/national/")
    return _page(
        f"Cổng dịch vụ công {province.name}",
        '<form action="nop-ho-so" method=post><input name=ho_so><button>Nộp hồ sơ</button></form>',
    )


async def procedures(request: web.Request) -> web.Response:
    province = _state(request).province(request.match_info["code"])
    return _page(f"Hệ thống thông tin giải quyết TTHC {province.name}", "<p>running</p>")


# --- Control ---------------------------------------------------------------------------------


async def put_scenario(request: web.Request) -> web.Response:
    from cutover.errors import CutoverError

    state = request.app[STATE]
    try:
        scenario = validate_scenario_data(await request.json(), "PUT /_sim/scenario")
        state.check(scenario)
    except CutoverError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state.scenario = scenario
    return web.json_response({"scenario": state.scenario.id})


async def get_overlay(request: web.Request) -> web.Response:
    return web.json_response(overlay_for(_origin(request)))


def overlay_for(base: str) -> dict[str, Any]:
    """The endpoint overlay that points the checklist at a simulator at `base`."""
    return {
        "version": 1,
        "endpoints": {"national": f"{base}/national", "sso": f"{base}/sso", "edoc": f"{base}/edoc"},
        "province_endpoints": {
            "portal": f"{base}/p/{{province.code}}/portal",
            "procedures": f"{base}/p/{{province.code}}/procedures",
        },
    }


def make_app(scenario: Scenario, geo: Geography) -> web.Application:
    state = SimState(scenario, geo)
    app = web.Application(middlewares=[faults.middleware(lambda: state.scenario.faults)])
    app[STATE] = state
    app.router.add_get("/national/", national_home)
    app.router.add_get("/national/api/provinces/{code}/units", units)
    app.router.add_get("/national/api/provinces/{code}/dossier-sync", dossier_sync)
    app.router.add_get("/national/api/provinces/{code}/payment-tests/latest", payment_latest)
    app.router.add_get("/national/api/provinces/{code}/promotion-notices", promotion_notices)
    app.router.add_get("/national/api/communes/{commune}/filing-tests", filing_tests)
    app.router.add_get("/sso/.well-known/openid-configuration", discovery)
    app.router.add_get("/sso/jwks", jwks)
    app.router.add_get("/sso/oauth2/authorize", authorize)
    app.router.add_get("/sso/login", login)
    app.router.add_get("/edoc/api/agencies", agencies)
    app.router.add_get("/p/{code}/portal/", portal)
    app.router.add_get("/p/{code}/procedures/", procedures)
    app.router.add_put("/_sim/scenario", put_scenario)
    app.router.add_get("/_sim/overlay", get_overlay)
    return app
