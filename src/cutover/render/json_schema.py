"""The JSON Schema of `cutover matrix --format json` (schema id cutover.matrix/1)."""

from __future__ import annotations

from typing import Any

from cutover.render.text import LIMIT
from cutover.rollup import STATUSES

# Text from outside (titles, names, owners, reasons, waivers), as `text.clean` leaves it.
_FREE = {
    "type": "string",
    "maxLength": LIMIT,
    "description": f"free text: no control characters but tab and newline, at most {LIMIT} "
    "characters, a longer text ending with ' … [cut, N characters]'",
}
_TITLE = {
    "type": "object",
    "required": ["vi", "en"],
    "additionalProperties": False,
    "properties": {"vi": _FREE, "en": _FREE},
}
_TIME = {"type": "string", "format": "date-time"}
_SOURCE = {
    "enum": ["probe", "attestation", "mixed", None],
    "description": "where the status comes from: a probe, a person's attestation (cutover "
    "mark), or both (communes of one cell); null without evidence",
}
_BY = {
    "anyOf": [_FREE, {"type": "null"}],
    "description": "who attested (attestations only)",
}
_UNIT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "name", "type", "status", "reason", "evidence_at", "source", "by"],
    "properties": {
        "code": {"type": "string", "pattern": r"^\d{5}$"},
        "name": _FREE,
        "type": _FREE,
        "status": {"enum": list(STATUSES)},
        "reason": _FREE,
        "evidence_at": {"anyOf": [_TIME, {"type": "null"}]},
        "source": _SOURCE,
        "by": _BY,
    },
}

MATRIX_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "cutover.matrix/1",
    "title": "cutover readiness matrix",
    "type": "object",
    "required": [
        "schema",
        "as_of",
        "no_evidence",
        "checklist",
        "steps",
        "provinces",
        "cells",
        "totals",
    ],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": "cutover.matrix/1"},
        "as_of": _TIME,
        "no_evidence": {
            "type": "boolean",
            "description": "true when the store held no evidence for the selection at or "
            "before as_of (every cell then shows what was known then: nothing)",
        },
        "checklist": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "title", "digest", "timezone"],
            "properties": {
                "id": {"type": "string"},
                "title": _TITLE,
                "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "timezone": {"type": "string"},
            },
        },
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "due", "level", "owner", "tags", "kind"],
                "properties": {
                    "id": {"type": "string"},
                    "title": _TITLE,
                    "due": _TIME,
                    "level": {"enum": ["province", "commune"]},
                    "owner": {
                        "anyOf": [_FREE, {"type": "null"}],
                        "description": "the step's owner in the output's language (--lang) when "
                        "the checklist writes it as {vi, en}, else as written; null when none",
                    },
                    "tags": {"type": "array", "items": _FREE},
                    "kind": {"type": "string"},
                },
            },
        },
        "provinces": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "slug", "name", "name_en"],
                "properties": {
                    "code": {"type": "string", "pattern": r"^\d{2}$"},
                    "slug": {"type": "string"},
                    "name": _FREE,
                    "name_en": _FREE,
                },
            },
        },
        "cells": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "province",
                    "step",
                    "status",
                    "reason",
                    "evidence_at",
                    "source",
                    "by",
                    "communes",
                    "insecure",
                    "waiver",
                ],
                "properties": {
                    "province": {"type": "string"},
                    "step": {"type": "string"},
                    "status": {"enum": list(STATUSES)},
                    "reason": _FREE,
                    "evidence_at": {"anyOf": [_TIME, {"type": "null"}]},
                    "source": _SOURCE,
                    "by": _BY,
                    "units": {
                        "type": "array",
                        "description": "with --communes: every commune of a commune-level cell",
                        "items": _UNIT,
                    },
                    "communes": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["done", "total"],
                                "additionalProperties": False,
                                "properties": {
                                    "done": {"type": "integer", "minimum": 0},
                                    "total": {"type": "integer", "minimum": 0},
                                },
                            },
                        ]
                    },
                    "insecure": {"type": "boolean"},
                    "waiver": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["reason", "approver", "until"],
                                "additionalProperties": False,
                                "properties": {
                                    "reason": _FREE,
                                    "approver": _FREE,
                                    "until": _TIME,
                                },
                            },
                        ]
                    },
                },
            },
        },
        "silent": {
            "description": "With a heartbeat (--silent-after): provinces with no run or "
            "attestation within it; neither done nor failing",
            "type": "object",
            "required": ["after_seconds", "provinces"],
            "additionalProperties": False,
            "properties": {
                "after_seconds": {"type": "integer", "minimum": 1},
                "provinces": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "last_heard"],
                        "additionalProperties": False,
                        "properties": {
                            "code": {"type": "string"},
                            "last_heard": {"anyOf": [_TIME, {"type": "null"}]},
                        },
                    },
                },
            },
        },
        "totals": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["done", "total", "counts"],
                "additionalProperties": False,
                "properties": {
                    "done": {"type": "integer", "minimum": 0},
                    "total": {"type": "integer", "minimum": 0},
                    "counts": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": list(STATUSES),
                        "properties": {s: {"type": "integer", "minimum": 0} for s in STATUSES},
                    },
                },
            },
        },
    },
}
