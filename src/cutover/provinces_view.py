"""Text and JSON views of the provinces for `cutover provinces` (no rich: plain, pipe-friendly)."""

from __future__ import annotations

import json
from typing import Any

from cutover.geo import Geography, Province

TYPE_LABEL = {"province": "province", "city": "city"}


def province_dict(p: Province, communes: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": p.code,
        "slug": p.slug,
        "name": p.spec.name,
        "name_en": p.spec.name_en,
        "type": p.spec.type,
        "units": p.unit_count,
        **p.spec.units.model_dump(),
        "merged_from": p.spec.merged_from,
        "eid_code": p.spec.eid_code,
        "endpoints": p.spec.endpoints,
    }
    if communes:
        out["commune_list"] = [{"code": c.code, "name": c.name, "type": c.type} for c in p.communes]
    return out


def totals_line(provinces: list[Province]) -> str:
    units = [p.spec.units for p in provinces]
    return (
        f"{len(provinces)} provinces, {sum(u.total for u in units):,} units "
        f"({sum(u.communes for u in units):,} communes, {sum(u.wards for u in units):,} wards, "
        f"{sum(u.special_zones for u in units):,} special zones)"
    )


def table(geo: Geography) -> list[str]:
    rows = [("code", "slug", "name", "type", "units", "merged from")]
    rows += [
        (p.code, p.slug, p.spec.name, p.spec.type, str(p.unit_count), ", ".join(p.spec.merged_from))
        for p in geo.provinces
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        cells = [r[i].rjust(widths[i]) if i == 4 else r[i].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join([*cells, r[5]]).rstrip())
    return [*lines, totals_line(geo.provinces)]


def detail(p: Province) -> list[str]:
    u = p.spec.units
    lines = [
        f"{p.code} {p.spec.name} ({p.spec.name_en}), {p.spec.type}",
        f"slug: {p.slug}",
        f"merged from: {', '.join(p.spec.merged_from)}",
        f"agency e-ID code: {p.spec.eid_code or 'unknown'}",
        f"units: {p.unit_count} ({u.communes} communes, {u.wards} wards, "
        f"{u.special_zones} special zones)",
    ]
    lines += [f"endpoint {k}: {v}" for k, v in p.spec.endpoints.items()]
    lines += [f"  {c.code}  {c.name}" for c in p.communes]
    return lines


def as_json(geo: Geography, province: Province | None) -> str:
    if province is not None:
        return json.dumps(province_dict(province, communes=True), ensure_ascii=False, indent=2)
    return json.dumps(
        {
            "provinces": [province_dict(p) for p in geo.provinces],
            "total": totals_line(geo.provinces),
            "source": geo.package_label,
        },
        ensure_ascii=False,
        indent=2,
    )
