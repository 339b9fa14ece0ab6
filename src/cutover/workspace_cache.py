"""A private cache of the loaded workspace: the validated geography, checklist and endpoint
overlay.

Every command reads provinces.yaml and a checklist (and, when one is given, an endpoint
overlay), parses them with our YAML composer, validates them with pydantic and cross-checks the
geography against the vietnam-provinces package: about 45 ms of every reading command
(importing PyYAML included).  The result depends only on those bytes and on the code that reads
them, so it is kept, pickled, in `$XDG_CACHE_HOME/cutover` (else `~/.cache/cutover`), one file
per key:

- the SHA-256 of the files' bytes and the names they were read under;
- the size and modification time of every module and data file of the installed `cutover`
  and of the vietnam-provinces data file, and the versions of Python and pydantic: any
  upgrade or edit of the code that reads them is a new key.

A pickle is code, so it is trusted as the interpreter trusts `__pycache__`: only a file that
is a regular file owned by the user running `cutover`, in a directory owned by that user,
neither writable by group or others, is read; anything else, or anything unreadable, is
ignored and the files are loaded as if there were no cache.  Files are written privately
(0600, in a 0700 directory) and atomically, and only the latest
`KEEP` workspaces are kept.  `CUTOVER_CACHE=off` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cutover.checklist import LoadedChecklist, Overlay
    from cutover.geo import Geography

    Workspace = tuple[Geography, LoadedChecklist, Overlay | None]

FORMAT = b"cutover-workspace-2"
KEEP = 8  # workspaces kept (a checklist or provinces file per key); the oldest go first


def directory(environ: Mapping[str, str]) -> Path | None:
    """Where the cache lives, or None when it is off or there is no home to keep it in."""
    if environ.get("CUTOVER_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    base = environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = environ.get("HOME") or ""
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "cutover"


def _code_fingerprint() -> bytes:
    """Every file of the installed package and the geography's data file, by size and time."""
    import importlib.util

    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0".encode())
    from pydantic import VERSION

    digest.update(f"pydantic {VERSION}\0".encode())
    roots = [Path(__file__).parent]
    spec = importlib.util.find_spec("vietnam_provinces")
    if spec is not None and spec.submodule_search_locations:
        roots.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = os.path.join(folder, name)
                info = os.stat(path)
                digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.digest()


def key(files: list[tuple[str, bytes]]) -> str:
    """The cache key of a workspace read from `files` (name, bytes) by this code."""
    digest = hashlib.sha256(FORMAT)
    digest.update(_code_fingerprint())
    for name, raw in files:
        digest.update(f"\0{name}\0{len(raw)}\0".encode())
        digest.update(hashlib.sha256(raw).digest())
    return digest.hexdigest()


def _private_dir(folder: Path) -> bool:
    try:
        info = os.stat(folder, follow_symlinks=False)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def load(folder: Path, name: str) -> Workspace | None:
    """The cached workspace, or None: missing, not ours, not private, or unreadable."""
    if not _private_dir(folder):
        return None
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            return None
        with os.fdopen(fd, "rb") as file:
            fd = -1
            if file.read(len(FORMAT)) != FORMAT:
                return None
            found = pickle.load(file)
    except Exception:  # a truncated or stale file is a miss, never an error
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    from cutover.checklist import LoadedChecklist, Overlay
    from cutover.geo import Geography

    if (
        isinstance(found, tuple)
        and len(found) == 3
        and isinstance(found[0], Geography)
        and isinstance(found[1], LoadedChecklist)
        and (found[2] is None or isinstance(found[2], Overlay))
    ):
        return found[0], found[1], found[2]
    return None


def save(
    folder: Path, name: str, geo: Geography, loaded: LoadedChecklist, overlay: Overlay | None
) -> None:
    """Keep the workspace for the next command; any failure only costs the next one time."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private_dir(folder):
            return
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(FORMAT)
                pickle.dump((geo, loaded, overlay), file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, folder / name)
        except BaseException:
            os.unlink(temporary)
            raise
        kept = sorted(
            (p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except Exception:
        return
