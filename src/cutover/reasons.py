"""Why a cell is not done, kept as phrases so each language can say it.

The rollup writes a reason as a tuple of `Say` parts: our own phrases ("due 3 h ago") are
catalog messages with values, and the words of a probe or a person (`expected unsynced == 0,
got 43`, an attestation note) are kept as they came.  `Cell.reason` is the English text
(what JSON, CSV and `--quiet` carry, unchanged); `said(parts, lang)` gives the text in any
language.  Values are filled with `str.format`, so text from outside is never read as a format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cutover.i18n import N_, Lang, Words, words


@dataclass(frozen=True)
class Say:
    """One phrase: a catalog message with its values, or outside text (`message` None)."""

    message: str | None
    text: str = ""
    values: tuple[tuple[str, int | str | timedelta | tuple[Say, ...]], ...] = ()


Reason = tuple[Say, ...]


def quote(text: str) -> Reason:
    """Outside words (a probe's reason, a note) kept as they are; nothing for empty text."""
    return (Say(None, text),) if text else ()


def phrase(message: str, **values: int | str | timedelta | Reason) -> Say:
    return Say(message, values=tuple(values.items()))


def said(parts: Reason, lang: Lang) -> str:
    """The reason in `lang`: its phrases joined with "; "."""
    return _join(parts, words(lang))


def _join(parts: Reason, _: Words) -> str:
    return "; ".join(text for part in parts if (text := _one(part, _)))


def _one(part: Say, _: Words) -> str:
    if part.message is None:
        return part.text
    values = {name: _value(value, _) for name, value in part.values}
    return _(part.message, **values)


def _value(value: int | str | timedelta | Reason, _: Words) -> int | str:
    if isinstance(value, timedelta):
        return age(value, _)
    if isinstance(value, tuple):
        return _join(value, _)
    return value


def age(delta: timedelta, _: Words) -> str:
    """A duration as people say it: minutes up to two hours, hours up to two days, then days."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return _(N_("{n} min"), n=minutes)
    if minutes < 48 * 60:
        return _(N_("{n} h"), n=minutes // 60)
    return _(N_("{n} d"), n=minutes // 1440)
