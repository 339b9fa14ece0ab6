"""The matrix as versioned JSON (`cutover.matrix/1`).

JSON escapes any character by construction; text from outside still goes through `text.clean`
so every format carries the same bounded text, free of NUL (which e.g. PostgreSQL's jsonb
refuses), terminal escapes (C1 controls are not escaped by `ensure_ascii=False`) and bidi
controls."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cutover.checklist import Title
from cutover.render.base import Lang, RenderOptions, local
from cutover.render.text import clean
from cutover.rollup import Cell, Matrix, UnitCell

SCHEMA_ID = "cutover.matrix/1"


def as_dict(matrix: Matrix, lang: Lang, communes: bool = False) -> dict[str, Any]:
    """The matrix as plain data; `communes` adds every commune of commune-level cells.  Every
    time is in the checklist's timezone (`checklist.timezone`), whatever offset `--as-of` was
    given in or the store keeps: one instant always reads the same.  Titles carry both
    languages; a step's owner stays one string (what readers of `cutover.matrix/1` expect), in
    `lang` when the checklist writes it in both."""
    checklist = matrix.checklist
    zone = checklist.timezone
    return {
        "schema": SCHEMA_ID,
        "as_of": _time(matrix.as_of, zone),
        "no_evidence": matrix.no_evidence,
        "checklist": {
            "id": checklist.id,
            "title": _title(checklist.title),
            "digest": matrix.digest,
            "timezone": checklist.timezone,
        },
        "steps": [
            {
                "id": s.id,
                "title": _title(s.title),
                "due": _time(s.due, zone),
                "level": s.level,
                "owner": _text(s.clear("owner", lang)),
                "tags": [clean(t) for t in s.tags],
                "kind": s.verify.kind,
            }
            for s in matrix.steps
        ],
        "provinces": [
            {
                "code": p.code,
                "slug": p.slug,
                "name": clean(p.spec.name),
                "name_en": clean(p.spec.name_en),
            }
            for p in matrix.provinces
        ],
        "cells": [
            _cell(c, communes, zone)
            for c in (matrix.cell(p.code, s.id) for p in matrix.provinces for s in matrix.steps)
        ],
        "totals": {
            step_id: {"done": t.done, "total": t.total, "counts": t.counts}
            for step_id, t in matrix.totals.items()
        },
    } | silent(matrix)


def silent(matrix: Matrix) -> dict[str, Any]:
    """With a heartbeat: `silent` lists the provinces not heard from within it."""
    if matrix.silent_after is None:
        return {}
    return {
        "silent": {
            "after_seconds": int(matrix.silent_after.total_seconds()),
            "provinces": [
                {"code": code, "last_heard": _time(heard, matrix.checklist.timezone)}
                for code, heard in matrix.silent.items()
            ],
        }
    }


def _text(text: str | None) -> str | None:
    return None if text is None else clean(text)


def _time(moment: datetime | None, zone: str) -> str | None:
    return None if moment is None else local(moment, zone).isoformat()


def _cell(c: Cell, communes: bool, zone: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "province": c.province,
        "step": c.step,
        "status": c.status,
        "reason": clean(c.reason),
        "evidence_at": _time(c.evidence_at, zone),
        "source": c.source,
        "by": None if c.by is None else clean(c.by),
        "communes": None
        if c.total_units is None
        else {"done": c.done_units, "total": c.total_units},
        "insecure": c.insecure,
        "waiver": None
        if c.waiver is None
        else {
            "reason": clean(c.waiver.reason),
            "approver": clean(c.waiver.approver),
            "until": _time(c.waiver.until, zone),
        },
    }
    if communes and c.total_units is not None:
        out["units"] = [_unit(u, zone) for u in c.units]
    return out


def _unit(u: UnitCell, zone: str) -> dict[str, Any]:
    return {
        "code": u.commune.code,
        "name": clean(u.commune.name),
        "type": clean(u.commune.type),
        "status": u.status,
        "reason": clean(u.reason),
        "evidence_at": _time(u.evidence_at, zone),
        "source": u.source,
        "by": None if u.by is None else clean(u.by),
    }


def _title(title: Title) -> dict[str, str]:
    return {"vi": clean(title.vi), "en": clean(title.en)}


def render(matrix: Matrix, options: RenderOptions) -> str:
    """The matrix; with `--communes`, each commune-level cell lists its communes (`units`)."""
    data = as_dict(matrix, options.lang, options.communes)
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
