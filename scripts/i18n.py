"""The message catalog, with Babel: extract every marked message from the code and the
templates into `cutover.pot`, merge it into each language's `.po` (new messages get an empty
translation, removed ones become obsolete), and compile the `.mo` files the wheel ships.

    python scripts/i18n.py            # extract, merge, compile
    python scripts/i18n.py --check    # exit 1 if anything would change or is untranslated

`tests/test_i18n.py` runs the same functions, so a message without a Vietnamese translation,
or a `.mo` older than its `.po`, fails the tests.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "cutover"
LOCALES = PACKAGE / "i18n" / "locale"
POT = PACKAGE / "i18n" / "cutover.pot"
LANGUAGES = ("vi",)
METHODS = [
    ("**/templates/**.j2", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
# Fixed header dates keep the files reproducible (the same sources give the same bytes); git
# keeps the real history.
DATE = datetime(2025, 6, 28, 13, 0, tzinfo=UTC)


def extract() -> Catalog:
    """Every message the package marks, with where it is used."""
    catalog = Catalog(project="cutover", domain="cutover", charset="utf-8", creation_date=DATE)
    for path, line, message, comments, context in extract_from_dir(
        str(PACKAGE), METHODS, OPTIONS, keywords=_keywords(), comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(message, None, [(f"src/cutover/{path}", line)], auto_comments=comments,
                    context=context)  # fmt: skip
    return catalog


def _keywords() -> dict[str, tuple[int, ...] | None]:
    from babel.messages.extract import DEFAULT_KEYWORDS

    return dict(DEFAULT_KEYWORDS)


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / "cutover.po"


def merged(lang: str, template: Catalog) -> Catalog:
    """The language's catalog brought up to date with `template` (translations kept)."""
    path = po_path(lang)
    if path.exists():
        with path.open("rb") as file:
            catalog = read_po(file, locale=lang)
    else:
        catalog = Catalog(locale=lang, domain="cutover", project="cutover", charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.revision_date = DATE
    catalog.last_translator = "cutover"
    catalog.language_team = "cutover"
    return catalog


def po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, sort_output=False, ignore_obsolete=True)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as file:
        return read_po(file, locale=lang)


def untranslated(catalog: Catalog) -> list[str]:
    """Messages with no translation (or only a fuzzy guess)."""
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def main(check: bool) -> int:
    template = extract()
    changed = []
    wanted = {POT: po_bytes(template)}
    for lang in LANGUAGES:
        catalog = merged(lang, template)
        wanted[po_path(lang)] = po_bytes(catalog)
        wanted[po_path(lang).with_suffix(".mo")] = mo_bytes(catalog)
        for message in untranslated(catalog):
            print(f"{lang}: untranslated: {message!r}", file=sys.stderr)
            changed.append(message)
    for path, data in wanted.items():
        if (path.read_bytes() if path.exists() else b"") != data:
            changed.append(str(path))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
