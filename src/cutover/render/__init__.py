"""Output formats: one module each, registered here by name.  Renderers only read the Matrix."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cutover.render.base import RenderOptions
    from cutover.rollup import Matrix

Renderer = Callable[["Matrix", "RenderOptions"], str | bytes]

# name -> module; each module has `render(matrix, options) -> str | bytes`
REGISTRY: dict[str, str] = {
    "table": "cutover.render.table",
    "json": "cutover.render.json",
}


def get(name: str) -> Renderer:
    from cutover.errors import UsageError

    if name not in REGISTRY:
        raise UsageError(f"unknown format {name!r}; known: {', '.join(REGISTRY)}")
    renderer: Renderer = import_module(REGISTRY[name]).render
    return renderer
