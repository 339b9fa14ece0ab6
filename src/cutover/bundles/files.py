"""Bundle files: reading one without blocking (FIFOs, directories, devices are refused; a
size limit), JSON or JSON Lines, and writing one atomically."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutover.bundles.schema import Rejected
from cutover.errors import UsageError, path_shown

MAX_BUNDLE_BYTES = 64 * 2**20  # per file; a province's full history is a few hundred KB
JSONL_SUFFIX = ".intoto.jsonl"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL
_NEW_FILE |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Piece:
    """One envelope from a bundle file (`FILE`, or `FILE:LINE` in JSON Lines), or why the
    file cannot be read."""

    label: str
    raw: bytes = b""
    problem: str = ""


def read_bundle_file(path: Path, limit: int = MAX_BUNDLE_BYTES) -> list[Piece]:
    label = str(path)
    try:
        data = read_regular(path, limit)
    except Rejected as exc:
        return [Piece(label, problem=exc.reason)]
    if not path.name.endswith((".jsonl", ".JSONL")):
        return [Piece(label, data)]
    pieces = [
        Piece(f"{label}:{n}", line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()
    ]
    return pieces or [Piece(label, problem="empty JSON Lines file: no envelope")]


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.  Opening does not block, so a
    FIFO or a device is refused at once instead of waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise Rejected("no such file") from None
    except OSError as exc:
        raise Rejected(f"cannot open: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Rejected(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise Rejected(f"too large: {info.st_size:,} bytes, over the {limit:,}-byte limit")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise Rejected(f"too large: over the {limit:,}-byte limit")
        return b"".join(chunks)
    except OSError as exc:
        raise Rejected(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a file"


def check_target(path: Path) -> None:
    """Refuse an output path that exists and is not a regular file: writing a bundle replaces
    its target, which must never be a device, a FIFO, a socket, a directory or a symbolic
    link (the link itself would be replaced, not the file it names).  An absent path, or one
    whose directory is missing, is left to the write to report."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        raise UsageError(
            f"-o {path_shown(path)}: is a symbolic link, which writing would replace; give the "
            "path of the file itself"
        )
    raise UsageError(
        f"-o {path_shown(path)}: is {_kind(mode)}, not a regular file; give the path of a new "
        "or existing regular file"
    )


def check_count(path: Path, provinces: int) -> None:
    """Several provinces go to one `.intoto.jsonl` file, an envelope a line."""
    if provinces > 1 and not path.name.endswith(JSONL_SUFFIX):
        raise UsageError(f"-o {path_shown(path)}: several provinces need a {JSONL_SUFFIX} file")


def write_bundle(path: Path, envelopes: Sequence[Mapping[str, Any]]) -> None:
    """One envelope as a JSON document, or JSON Lines for a `.intoto.jsonl` name; written to
    a new temporary file next to it first, so a reader never sees half a bundle.  An existing
    target must be a regular file (`check_target`); a failed write leaves it as it was and
    removes the temporary file."""
    check_count(path, len(envelopes))
    if not envelopes:
        raise UsageError(f"-o {path_shown(path)}: no province to export")
    if path.name.endswith(JSONL_SUFFIX):
        text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in envelopes)
    else:
        text = json.dumps(envelopes[0], indent=2) + "\n"
    check_target(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        # A fresh name and O_EXCL: never follows a link, never opens a FIFO left there.
        fd = os.open(temporary, _NEW_FILE, 0o666)  # what the umask allows, as before
    except OSError as exc:
        raise UsageError(f"cannot write {path_shown(path)}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        check_target(path)  # still not a device or a link, just before it is replaced
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the directory may be gone or read-only by now
            temporary.unlink()
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path_shown(path)}: {exc.strerror or exc}") from None
        raise
