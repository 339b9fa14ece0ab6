"""Byte-compile the code under test before timing it as whole processes, as `pip install`
does.  Where PYTHONDONTWRITEBYTECODE is set (some sandboxes and CI set it), a source tree
without `__pycache__` is otherwise compiled again by every timed `cutover` process (50-100 ms
of CPU), which an installed library such as aiohttp never is."""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_sources(*roots: Path | None) -> None:
    """The installed `cutover` package, and any other source trees given."""
    import cutover

    for root in (Path(cutover.__file__).parent, *roots):
        if root is not None:
            compileall.compile_dir(root, quiet=1)
