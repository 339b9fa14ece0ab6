"""Where an internal error's traceback goes: a new file in the user's state directory.

Never a fixed name in a shared temporary directory (another user could plant a symlink
there): the directory is the user's own (mode 0700), each crash gets a new name, and the file
is created exclusively with mode 0600 without following a symlink.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cutover.env import Environment


def state_dir(env: Environment) -> Path | None:
    """`CUTOVER_STATE_DIR` (a relative one in the command's working directory), else cutover's
    directory under XDG_STATE_HOME of the command's environment; None when there is no home
    to put it in."""
    from cutover.env import user_dir

    override = env.path("CUTOVER_STATE_DIR")
    if override is not None:
        return env.anchored(override)
    return user_dir(env.environ, "XDG_STATE_HOME")


def write_crash_log(exc: BaseException, env: Environment) -> Path | None:
    """The path written, as the user named its folder (a relative `CUTOVER_STATE_DIR` stays
    relative), or None when nothing could be written (the one line still says what
    happened)."""
    folder = state_dir(env)
    if folder is None:
        return None
    shown = env.path("CUTOVER_STATE_DIR") or folder
    stamp = env.now().strftime("%Y%m%dT%H%M%S")
    text = "".join(traceback.format_exception(exc))
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for attempt in range(100):
            path = folder / f"crash-{stamp}-{os.getpid()}-{attempt}.log"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return shown / path.name
    except OSError:
        return None
    return None
