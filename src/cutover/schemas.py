"""JSON Schemas of the formats users edit (and, later, of the matrix JSON)."""

from __future__ import annotations

import json
from typing import Any

from cutover.errors import UsageError


def schemas() -> dict[str, dict[str, Any]]:
    from cutover.checklist import Checklist, Overlay
    from cutover.geo import ProvincesFile
    from cutover.render.json_schema import MATRIX_SCHEMA

    return {
        "checklist": Checklist.model_json_schema(),
        "provinces": ProvincesFile.model_json_schema(),
        "overlay": Overlay.model_json_schema(),
        "matrix": MATRIX_SCHEMA,
    }


def schema_json(which: str | None) -> str:
    all_schemas = schemas()
    if which is None:
        return json.dumps(all_schemas, ensure_ascii=False, indent=2)
    if which not in all_schemas:
        raise UsageError(f"unknown schema {which!r}; known: {', '.join(all_schemas)}")
    return json.dumps(all_schemas[which], ensure_ascii=False, indent=2)
