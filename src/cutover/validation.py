"""`cutover validate`: what each file is, and every problem in it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cutover import checklist as cl
from cutover import geo as geomod
from cutover.errors import ConfigError, Problem
from cutover.yamlio import Document, load_file


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]


def _kind(doc: Document) -> str:
    data = doc.data
    if isinstance(data, dict):
        if "steps" in data:
            return "checklist"
        if "provinces" in data and isinstance(data["provinces"], list):
            return "provinces"
        if {"endpoints", "province_endpoints", "provinces"} & set(data):
            return "overlay"
    return "unknown"


Named = tuple[Path, str]  # a path and how to show it


def default_paths() -> list[Named]:
    """provinces.yaml, every checklist, and the overlay from CUTOVER_ENDPOINTS if set."""
    paths = [geomod.default_provinces_path()]
    local = Path("checklists")
    if local.is_dir():
        paths += [(p, str(p)) for p in sorted(local.glob("*.yaml"))]
    else:
        paths += [
            (p, f"<packaged>/checklists/{p.name}")
            for p in sorted(cl.packaged_checklists().glob("*.yaml"))
        ]
    if os.environ.get("CUTOVER_ENDPOINTS"):
        paths.append((Path(os.environ["CUTOVER_ENDPOINTS"]), os.environ["CUTOVER_ENDPOINTS"]))
    return paths


def validate_paths(paths: list[Named]) -> Report:
    """Load every file; provinces and overlays first, since checklists are checked against them."""
    report = Report()
    docs: list[Document] = []
    for path, display in paths:
        try:
            docs.append(load_file(path, display))
        except ConfigError as exc:
            report.problems += exc.problems
    by_kind: dict[str, list[Document]] = {}
    for doc in docs:
        by_kind.setdefault(_kind(doc), []).append(doc)
    for doc in by_kind.get("unknown", []):
        report.problems.append(
            Problem(
                doc.file,
                "not a checklist, provinces file or endpoint "
                "overlay (expected a top-level 'steps', 'provinces' or 'endpoints')",
            )
        )
    geo = _geography(by_kind.get("provinces", []), report)
    overlays = [o for doc in by_kind.get("overlay", []) if (o := _overlay(doc, report))]
    if geo is None:
        return report
    overlay = overlays[-1] if overlays else None
    endpoints = cl.Endpoints(geo, overlay)
    for doc in by_kind.get("checklist", []):
        try:
            loaded = cl.load_checklist_document(doc, geo, endpoints, local=True)
        except ConfigError as exc:
            report.problems += exc.problems
            continue
        report.problems += loaded.warnings
        steps = len(loaded.checklist.steps)
        report.ok.append(f"ok {doc.file} (checklist {loaded.checklist.id}, {steps} steps)")
    return report


def _geography(docs: list[Document], report: Report) -> geomod.Geography | None:
    chosen: geomod.Geography | None = None
    for doc in docs:
        try:
            chosen = geomod.load_document(doc)
        except ConfigError as exc:
            report.problems += exc.problems
            continue
        units = sum(p.unit_count for p in chosen.provinces)
        report.ok.append(
            f"ok {doc.file} ({len(chosen.provinces)} provinces, {units:,} units, "
            f"matches {chosen.package_label})"
        )
    if chosen is None and not docs:
        try:
            return geomod.load_geography()
        except ConfigError as exc:
            report.problems += exc.problems
    return chosen


def _overlay(doc: Document, report: Report) -> cl.Overlay | None:
    from cutover.models import validate

    try:
        overlay = validate(cl.Overlay, doc)
    except ConfigError as exc:
        report.problems += exc.problems
        return None
    report.ok.append(
        f"ok {doc.file} (endpoint overlay, {len(overlay.endpoints)} national, "
        f"{len(overlay.province_endpoints)} per-province endpoints)"
    )
    return overlay
