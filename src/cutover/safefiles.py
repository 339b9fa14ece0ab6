"""Reading files a user names, without ever blocking or reading without bound.

A path that is not a regular file (a FIFO, a device such as /dev/zero, a socket, a directory)
is refused before anything is read: it is checked with `stat` first, so no device is even
opened, then opened with O_NONBLOCK (a FIFO swapped in meanwhile cannot block the open) and
checked again with `fstat` on the descriptor actually read.  Symbolic links are followed: a
user's checklist may well be a link into a shared directory.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from cutover.errors import UsageError

CHUNK = 1 << 20
YAML_LIMIT = 5 * 1024 * 1024  # the largest YAML file we read (`yamlio.MAX_BYTES`)
MAX_EVIDENCE_BYTES = 4 << 30  # what `sha256_regular` hashes at most, unless told otherwise

# Flags some systems lack (Windows has no FIFOs to block on, and needs O_BINARY).
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_REASONS = {
    errno.ENOENT: "no such file",
    errno.ENOTDIR: "no such file (a parent is not a directory)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENAMETOOLONG: "file name too long",
}


class FileRefused(UsageError):
    """A path that cannot be read as a bounded regular file.  `what` names the file the way
    the user gave it ("checklists/x.yaml", "--evidence-file scan.pdf"); `reason` says why."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


def read_regular(path: Path, *, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is refused at once
    (FileRefused, exit 2).  At most `limit + 1` bytes are ever read, even from a file that
    grows while it is read."""
    fd = _open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise FileRefused(what, _too_big(size, limit))
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            block = os.read(fd, min(CHUNK, limit + 1 - got))
            if not block:
                break
            chunks.append(block)
            got += len(block)
        if got > limit:
            raise FileRefused(what, f"file grew over the {_size(limit)} limit while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(what, _reason(exc)) from None
    finally:
        os.close(fd)


def sha256_regular(path: Path, *, what: str, limit: int = MAX_EVIDENCE_BYTES) -> str:
    """The SHA-256 (hex) of a regular file, read in chunks: constant memory, at most `limit`
    bytes.  A FIFO, device or directory is refused at once (FileRefused, exit 2)."""
    fd = _open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise FileRefused(what, _too_big(size, limit))
        digest = hashlib.sha256()
        got = 0
        while block := os.read(fd, CHUNK):
            got += len(block)
            if got > limit:
                raise FileRefused(what, f"file grew over the {_size(limit)} limit while being read")
            digest.update(block)
        return digest.hexdigest()
    except OSError as exc:
        raise FileRefused(what, _reason(exc)) from None
    finally:
        os.close(fd)


def _open_regular(path: Path, what: str) -> int:
    """A descriptor open for reading on a regular file, or FileRefused."""
    try:
        _refuse_unless_regular(os.stat(path).st_mode, what)
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _NOCTTY | _CLOEXEC | _BINARY)
    except OSError as exc:
        raise FileRefused(what, _reason(exc)) from None
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode, what)
        if _NONBLOCK:
            os.set_blocking(fd, True)  # a regular file: reads never wait for a writer
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_unless_regular(mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise FileRefused(what, f"is {kind}, not a regular file")


def _reason(exc: OSError) -> str:
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return (exc.strerror or type(exc).__name__).lower()


def _too_big(size: int, limit: int) -> str:
    return f"file is {size / 1e6:.1f} MB, over the {_size(limit)} limit"


def _size(limit: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return f"{limit:,} bytes"
