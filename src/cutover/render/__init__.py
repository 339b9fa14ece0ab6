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


BINARY = {"xlsx"}  # not for a terminal


def check_formats(formats: list[str], *, terminal: bool) -> None:
    """Refuse, before any work: an unknown format, two formats to standard output (they
    would be one unreadable stream), a binary format to a terminal."""
    from cutover.errors import UsageError

    to_stdout = []
    for spec in formats:
        name, _, where = spec.partition(":")
        get(name)
        if not where:
            to_stdout.append(name)
    if len(to_stdout) > 1:
        raise UsageError(
            f"{len(to_stdout)} formats to standard output ({', '.join(to_stdout)}); give all "
            f"but one a path, e.g. --format {to_stdout[-1]}:FILE"
        )
    binary = [n for n in to_stdout if n in BINARY]
    if binary and terminal:
        raise UsageError(
            f"{binary[0]} is a binary format and standard output is a terminal; give a path "
            f"(--format {binary[0]}:matrix.{binary[0]}) or redirect to a file"
        )


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

    check_formats(formats, terminal=False)
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
