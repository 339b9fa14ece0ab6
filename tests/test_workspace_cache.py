"""The private cache of the loaded workspace (`cutover.workspace_cache`): the same workspace as
loading the files, only from files that only the user could have written, and a new key when
anything it depends on changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cutover import service, workspace_cache
from cutover.checklist import packaged_checklists
from cutover.errors import ConfigError
from cutover.geo import packaged_provinces


def _environ(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}


def _files(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def test_a_second_load_comes_from_the_cache_and_is_the_same(tmp_path: Path) -> None:
    environ = _environ(tmp_path)
    plain = service.prepare(service.Selection(), environ={})
    first = service.prepare(service.Selection(), environ=environ)
    folder = tmp_path / "cache" / "cutover"
    (written,) = _files(folder)
    assert written.stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    second = service.prepare(service.Selection(), environ=environ)
    for ctx in (first, second):
        assert ctx.loaded.checklist == plain.loaded.checklist
        assert ctx.loaded.digest == plain.loaded.digest
        assert ctx.loaded.source == plain.loaded.source
        assert ctx.loaded.warnings == plain.loaded.warnings
        assert ctx.geo.source == plain.geo.source
        assert [p.code for p in ctx.provinces] == [p.code for p in plain.provinces]
        assert ctx.provinces[0].communes == plain.provinces[0].communes
        assert ctx.steps == plain.steps
    assert _files(folder) == [written]


def test_a_cached_geography_still_cross_checks(tmp_path: Path) -> None:
    """The package's divisions are left out of the pickle and read again when needed."""
    from cutover.geo import load_geography
    from cutover.yamlio import load_file

    environ = _environ(tmp_path)
    service.prepare(service.Selection(), environ=environ)
    (written,) = _files(tmp_path / "cache" / "cutover")
    found = workspace_cache.load(written.parent, written.name)
    assert found is not None
    geo = found[0]
    assert "_divisions" not in vars(geo)
    doc = load_file(packaged_provinces())
    assert geo.cross_check(doc) == load_geography().cross_check(doc) == []


def test_a_changed_file_is_a_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environ = _environ(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    shutil.copy(packaged_provinces(), work / "provinces.yaml")
    checklist = work / "mine.yaml"
    shutil.copy(packaged_checklists() / "cutover-2025-06.yaml", checklist)
    sel = service.Selection(checklist=str(checklist))
    before = service.prepare(sel, environ=environ)
    checklist.write_text(checklist.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    after = service.prepare(sel, environ=environ)
    assert after.loaded.digest != before.loaded.digest
    assert len(_files(tmp_path / "cache" / "cutover")) == 2


def test_a_file_others_may_write_is_ignored(tmp_path: Path) -> None:
    environ = _environ(tmp_path)
    service.prepare(service.Selection(), environ=environ)
    folder = tmp_path / "cache" / "cutover"
    (written,) = _files(folder)
    written.write_bytes(workspace_cache.FORMAT + b"not a pickle")
    written.chmod(0o620)
    assert workspace_cache.load(folder, written.name) is None
    written.chmod(0o600)
    assert workspace_cache.load(folder, written.name) is None  # garbage is a miss, not an error
    folder.chmod(0o770)
    try:
        service.prepare(service.Selection(), environ=environ)  # loads the files instead
        assert workspace_cache.load(folder, written.name) is None
    finally:
        folder.chmod(0o700)
    ctx = service.prepare(service.Selection(), environ=environ)  # rewritten, trusted again
    assert workspace_cache.load(folder, written.name) is not None
    assert ctx.loaded.checklist.id == "cutover-2025-06"


def test_a_link_is_not_followed(tmp_path: Path) -> None:
    environ = _environ(tmp_path)
    service.prepare(service.Selection(), environ=environ)
    folder = tmp_path / "cache" / "cutover"
    (written,) = _files(folder)
    real = tmp_path / "elsewhere"
    written.rename(real)
    written.symlink_to(real)
    assert workspace_cache.load(folder, written.name) is None


def test_off_or_homeless_writes_nothing(tmp_path: Path) -> None:
    environ = {**_environ(tmp_path), "CUTOVER_CACHE": "off"}
    service.prepare(service.Selection(), environ=environ)
    assert not (tmp_path / "cache").exists()
    assert workspace_cache.directory({}) is None
    assert workspace_cache.directory({"HOME": "relative"}) is None


def test_an_overlay_is_part_of_the_key(tmp_path: Path) -> None:
    overlay = tmp_path / "endpoints.yaml"
    overlay.write_text("endpoints: {national: 'http://127.0.0.1:9/n'}\n", encoding="utf-8")
    environ = {**_environ(tmp_path), "CUTOVER_ENDPOINTS": str(overlay)}
    folder = tmp_path / "cache" / "cutover"
    plain = service.prepare(service.Selection(), environ={"CUTOVER_ENDPOINTS": str(overlay)})
    first = service.prepare(service.Selection(), environ=environ)
    (written,) = _files(folder)
    second = service.prepare(service.Selection(endpoints=overlay), environ=_environ(tmp_path))
    assert _files(folder) == [written]  # --endpoints and CUTOVER_ENDPOINTS: the same file
    for ctx in (first, second):
        assert ctx.overlay_given
        assert ctx.endpoints.overlay == plain.endpoints.overlay
        assert ctx.loaded.checklist == plain.loaded.checklist
        assert ctx.endpoints.for_province(ctx.provinces[0]) == plain.endpoints.for_province(
            plain.provinces[0]
        )
    overlay.write_text("endpoints: {national: 'http://127.0.0.1:9/m'}\n", encoding="utf-8")
    changed = service.prepare(service.Selection(), environ=environ)
    assert changed.endpoints.overlay.endpoints == {"national": "http://127.0.0.1:9/m"}
    assert len(_files(folder)) == 2
    service.prepare(service.Selection(), environ=_environ(tmp_path))  # no overlay: its own key
    assert len(_files(folder)) == 3


def test_a_broken_overlay_is_reported_as_without_the_cache(tmp_path: Path) -> None:
    overlay = tmp_path / "endpoints.yaml"
    overlay.write_text("endpoints: {national: 3}\nnot_a_key: 1\n", encoding="utf-8")
    messages = []
    for environ in ({**_environ(tmp_path), "CUTOVER_CACHE": "off"}, _environ(tmp_path)):
        with pytest.raises(ConfigError) as caught:
            service.prepare(service.Selection(endpoints=overlay), environ=environ)
        messages.append(caught.value.lines())
    assert messages[0] == messages[1]
    assert not _files(tmp_path / "cache" / "cutover")
