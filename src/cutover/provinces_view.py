"""Text and JSON views of the provinces for `cutover provinces` (no rich: plain, pipe-friendly)."""

from __future__ import annotations

import json
from typing import Any

from cutover.geo import Geography, Province
from cutover.i18n import N_, Lang, number, words

TYPE_LABEL = {"province": N_("province"), "city": N_("city")}


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


def totals_line(provinces: list[Province], lang: Lang = "en") -> str:
    units = [p.spec.units for p in provinces]
    _ = words(lang)
    kinds = unit_kinds(
        sum(u.communes for u in units),
        sum(u.wards for u in units),
        sum(u.special_zones for u in units),
        lang,
    )
    return _.ngettext(
        "{n} province, {units} units ({kinds})",
        "{n} provinces, {units} units ({kinds})",
        len(provinces),
        units=number(sum(u.total for u in units), lang),
        kinds=kinds,
    )


def unit_kinds(communes: int, wards: int, zones: int, lang: Lang = "en") -> str:
    """ "54 communes, 113 wards, 1 special zone": each count with its word in the singular or
    plural it needs (Vietnamese has one form)."""
    _ = words(lang)
    return ", ".join(
        [
            _.ngettext(
                "{count} commune", "{count} communes", communes, count=number(communes, lang)
            ),
            _.ngettext("{count} ward", "{count} wards", wards, count=number(wards, lang)),
            _.ngettext(
                "{count} special zone", "{count} special zones", zones, count=number(zones, lang)
            ),
        ]
    )


def table(geo: Geography, lang: Lang = "en") -> list[str]:
    _ = words(lang)
    rows = [(_("code"), _("slug"), _("name"), _("type"), _("units"), _("merged from"))]
    rows += [
        (
            p.code,
            p.slug,
            p.spec.name,
            _(TYPE_LABEL[p.spec.type]),
            str(p.unit_count),
            ", ".join(p.spec.merged_from),
        )
        for p in geo.provinces
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        cells = [r[i].rjust(widths[i]) if i == 4 else r[i].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join([*cells, r[5]]).rstrip())
    return [*lines, totals_line(geo.provinces, lang)]


def detail(p: Province, lang: Lang = "en") -> list[str]:
    _ = words(lang)
    u = p.spec.units
    lines = [
        f"{p.code} {p.spec.name} ({p.spec.name_en}), {_(TYPE_LABEL[p.spec.type])}",
        _("slug: {slug}", slug=p.slug),
        _("merged from: {names}", names=", ".join(p.spec.merged_from)),
        _("agency e-ID code: {code}", code=p.spec.eid_code or _("not known")),
        _(
            "units: {units} ({kinds})",
            units=p.unit_count,
            kinds=unit_kinds(u.communes, u.wards, u.special_zones, lang),
        ),
    ]
    if p.spec.aliases:
        lines.append(_("also called: {names}", names=", ".join(p.spec.aliases)))
    lines += [_("endpoint {name}: {url}", name=k, url=v) for k, v in p.spec.endpoints.items()]
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
