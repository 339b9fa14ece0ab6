"""Vietnamese throughout: every message in the code and templates has a Vietnamese translation
in the catalog, the compiled catalog is the one the wheel ships, translations keep their
fields, and what a person reads in Vietnamese has no English UI words or step ids left."""

from __future__ import annotations

import importlib.util
import re
import string
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalogs() -> ModuleType:
    """scripts/i18n.py: the same Babel extraction and compilation a release uses."""
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _key(message: Any) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def test_every_message_has_a_vietnamese_translation(catalogs: ModuleType) -> None:
    vi = catalogs.read("vi")
    extracted = [m for m in catalogs.extract() if m.id]
    assert len(extracted) > 150  # the code and the templates were both searched
    assert any("templates" in where for m in extracted for where, _ in m.locations)
    missing = []
    for message in extracted:
        found = vi.get(message.id)
        strings = (
            found.string if found and isinstance(found.string, tuple) else (found and found.string,)
        )
        if found is None or found.fuzzy or not all(strings):
            missing.append(_key(message))
    assert not missing, f"no Vietnamese translation (run python scripts/i18n.py): {missing}"


def test_compiled_catalog_is_up_to_date(catalogs: ModuleType) -> None:
    mo = catalogs.po_path("vi").with_suffix(".mo")
    assert mo.read_bytes() == catalogs.mo_bytes(catalogs.read("vi")), (
        "cutover.mo is older than cutover.po: run python scripts/i18n.py"
    )


# Values a translation may use that its English message does not (the numeric month).
EXTRA_FIELDS = {"{hour:02d}:{minute:02d} on {day} {month} {year}": {"month_number"}}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_translations_use_only_the_fields_they_are_given(catalogs: ModuleType) -> None:
    for message in catalogs.read("vi"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        given = set().union(*(_fields(i) for i in ids)) | EXTRA_FIELDS.get(ids[0], set())
        given |= {"n"} if isinstance(message.id, tuple) else set()
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert _fields(text) <= given, (ids[0], text)


# English words of the interface that must not survive in a Vietnamese report.
ENGLISH = [
    "at risk", "overdue", "pending", "failing", "regressed", "waived", "As of", "out of",
    "Province", "Legend", "Readiness matrix", "Who is behind", "What is missing",
    "Progress by step", "Done in every step", "Not ready", "communes done", "due in",
    "Nationally", "Next deadlines", "Projected complete", "Only one evaluation", "Checklist",
    "attested by",
]  # fmt: skip
STEP_ID = re.compile(r"\b[a-z]+(?:-[a-z]+)+\b")


class Visible(HTMLParser):
    """The text a reader sees: not the style sheet, not attribute values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text, self._skip = "", False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._skip = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text += data


def _english_left(text: str) -> list[str]:
    return [w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


@pytest.mark.parametrize("fmt", ["table", "markdown", "html", "summary", "check"])
def test_vietnamese_reports_read_in_vietnamese(demo_matrix: Any, fmt: str) -> None:
    from cutover.render import check_view, get
    from cutover.render.base import RenderOptions

    matrix, context = demo_matrix
    options = RenderOptions(lang="vi", **context)
    if fmt == "check":
        text = check_view.render(matrix, options, all_cells=True)
    else:
        text = str(get(fmt)(matrix, options))
    if fmt == "html":
        page = Visible()
        page.feed(text)
        text = page.text
    assert _english_left(text) == []
    english = str(get(fmt)(matrix, RenderOptions(lang="en", **context))) if fmt != "check" else ""
    assert fmt == "check" or _english_left(english)  # the list does find English when it is there
    # Step ids are for programs (JSON, CSV, Prometheus, JUnit), not for people reading a report.
    reasons = {c.reason for c in matrix.cells.values()}
    ids = [i for i in STEP_ID.findall(text) if not any(i in r for r in reasons)]
    assert ids == []


@pytest.mark.parametrize("fmt", ["html", "check"])
def test_vietnamese_reports_name_owners_in_vietnamese(demo_matrix: Any, fmt: str) -> None:
    """The reports that say who owns a step (the check view, the report's escalation list)
    say it in Vietnamese: the shipped checklist writes its owners in both languages."""
    from cutover.render import check_view, get
    from cutover.render.base import RenderOptions

    matrix, context = demo_matrix
    options = RenderOptions(lang="vi", **context)
    if fmt == "check":
        text = check_view.render(matrix, replace(options, width=200), all_cells=True)
    else:
        page = Visible()
        page.feed(str(get(fmt)(matrix, options)))
        text = page.text
    vietnamese = {o for s in matrix.steps if (o := s.clear("owner", "vi"))}
    english = {o for s in matrix.steps if (o := s.clear("owner", "en"))}
    assert any(o in text for o in vietnamese)
    assert [o for o in english if o in text] == []


@pytest.fixture(scope="module")
def demo_matrix(demo_db: Path) -> Any:
    from datetime import datetime

    from cutover import service
    from cutover.checklist import Overlay
    from cutover.cli.views import store_context
    from cutover.store.base import open_store

    store = open_store(demo_db, environ={}, create=False)
    ctx = service.prepare(service.Selection(), Overlay())  # every step of the checklist
    matrix = service.stored_matrix(ctx, store, datetime.fromisoformat("2025-06-28T13:00+07:00"))
    context = store_context(matrix, store, ["html"])
    store.close()
    return matrix, context
