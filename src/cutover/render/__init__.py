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
    "csv": "cutover.render.csv",
    "markdown": "cutover.render.markdown",
    "html": "cutover.render.html",
    "junit": "cutover.render.junit",
    "prometheus": "cutover.render.prometheus",
    "xlsx": "cutover.render.xlsx",
    "summary": "cutover.render.summary",
}


def get(name: str) -> Renderer:
    from cutover.errors import UsageError

    if name not in REGISTRY:
        raise UsageError(f"unknown format {name!r}; known: {', '.join(REGISTRY)}")
    renderer: Renderer = import_module(REGISTRY[name]).render
    return renderer


def write_all(
    matrix: Matrix, formats: list[str], options: RenderOptions, emit: Callable[[str | bytes], None]
) -> None:
    """Render each `FORMAT` to stdout or `FORMAT:PATH` to a file; check all names first."""
    from pathlib import Path

    from cutover.errors import UsageError

    plan: list[tuple[Renderer, Path | None]] = []
    for spec in formats:
        name, _, where = spec.partition(":")
        plan.append((get(name), Path(where) if where else None))
    for renderer, path in plan:
        data = renderer(matrix, options)
        if path is None:
            emit(data)
            continue
        try:
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
