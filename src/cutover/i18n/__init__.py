"""Words people read, in Vietnamese and English, through a standard gettext message catalog.

Message ids are the English text, so English needs no catalog; Vietnamese comes from
`locale/vi/LC_MESSAGES/cutover.po`, compiled with Babel to the `.mo` file shipped in the wheel
(`python scripts/i18n.py` extracts, merges and compiles; `tests/test_i18n.py` fails when a
message has no Vietnamese translation or the `.mo` is older than the `.po`).

Code marks a message with `_()` (translated where it stands, `_ = words(lang)`), `N_()` (a
message kept in a table and translated where it is shown) or `_.ngettext()`; templates use
Jinja's i18n extension.  Messages with values use `str.format` fields (`{done}/{total}`), so
a translation can put them in its own order.  Only the standard library is imported at run time.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")
DEFAULT_LANG: Lang = "vi"
DOMAIN = "cutover"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Mark `message` for the catalog without translating it here (tables of labels)."""
    return message


@cache
def translations(lang: Lang) -> gettext.NullTranslations:
    """The catalog of `lang` (English: the message ids themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as file:
        return gettext.GNUTranslations(file)


class Words:
    """The translation functions of one language, as renderers use them."""

    def __init__(self, lang: Lang) -> None:
        self.lang: Lang = lang
        self._catalog = translations(lang)

    def __call__(self, message: str, **values: object) -> str:
        """`message` translated, its `{fields}` filled from `values`."""
        text = self._catalog.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        """The form for `n` (Vietnamese has one), `{n}` and `values` filled in."""
        text = self._catalog.ngettext(singular, plural, n)
        return text.format(n=n, **values)


def words(lang: Lang) -> Words:
    return _words(lang)


@cache
def _words(lang: Lang) -> Words:
    return Words(lang)


def number(n: int, lang: Lang) -> str:
    """An integer with its thousands grouped as the language writes them: 3,321 or 3.321."""
    grouped = f"{n:,}"
    return grouped.replace(",", ".") if lang == "vi" else grouped


def choose(value: str | None, environ: Mapping[str, str]) -> Lang:
    """The language of a command: `--lang`, else `CUTOVER_LANG`, else Vietnamese (see the
    README: the readers are Vietnamese officials, and a locale-derived default would print
    English to them from servers set to `C` or `en_US`)."""
    from cutover.errors import UsageError

    chosen = value or environ.get("CUTOVER_LANG") or DEFAULT_LANG
    if chosen not in LANGS:
        source = "--lang" if value else "CUTOVER_LANG"
        raise UsageError(f"{source} must be vi or en, got {chosen!r}")
    return "vi" if chosen == "vi" else "en"
