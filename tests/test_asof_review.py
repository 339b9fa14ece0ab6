"""Reproducing past tables and reading times, after a review: a past Prometheus export comes out
the same after newer runs, every time of a CSV or JSON output is in the checklist's timezone,
and `--as-of` takes the live page's range and says when a table is a forecast."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DEMO_AS_OF, DEMO_TAG, record_demo

from cutover import service
from cutover.store.base import RunStart, Store, open_store

T = datetime.fromisoformat(DEMO_AS_OF)


def _run(store: Store, started: datetime, took: float) -> None:
    """A run with no results, started at `started`, finished `took` seconds later."""
    writer = store.start_run(
        RunStart("c", "d" * 64, "s", "check", "u", "h", "31", started, ("31",), ("s",), 0)
    )
    writer.finish(interrupted=False, finished_at=started + timedelta(seconds=took), duration_s=took)


def _prom(cli, db: Path, *extra: str) -> str:  # type: ignore[no-untyped-def]
    result = cli("matrix", "--tag", DEMO_TAG, "--format", "prometheus", "--db", str(db), *extra)
    assert result.code in (0, 1), result.err
    return str(result.out)


def test_a_past_prometheus_export_is_reproduced_after_a_newer_run(
    cli, demo_copy: Path, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    before = _prom(cli, demo_copy, "--as-of", DEMO_AS_OF)
    assert "cutover_last_run_duration_seconds " in before
    record_demo(demo_copy, "2025-06-28T15:00:00+07:00")  # a newer run, two hours later
    assert _prom(cli, demo_copy, "--as-of", DEMO_AS_OF) == before
    later = _prom(cli, demo_copy, "--as-of", "2025-06-28T15:00:00+07:00")
    started = datetime.fromisoformat("2025-06-28T15:00:00+07:00").timestamp()
    assert f"cutover_last_run_timestamp_seconds {started:.3f}" in later


def test_the_last_run_is_the_one_started_by_then_and_its_duration_once_it_finished(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "s.db", environ={})
    try:
        first = T + timedelta(hours=1)
        _run(store, first, 300.0)
        for i in range(40):  # more newer runs than the first page read
            _run(store, T + timedelta(hours=2, minutes=i), 1.0)
        assert service.last_run_times(store, T) is None
        # Started, not finished yet: an export then knew no duration.
        assert service.last_run_times(store, first + timedelta(minutes=2)) == (first, None)
        done = first + timedelta(minutes=5)
        assert service.last_run_times(store, done) == (first, done)
        newest = T + timedelta(hours=2, minutes=39)
        assert service.last_run_times(store, newest + timedelta(hours=1)) == (
            newest,
            newest + timedelta(seconds=1),
        )
        assert service.last_run_times(store) == service.last_run_times(
            store, newest + timedelta(hours=1)
        )
    finally:
        store.close()


def test_every_csv_time_is_in_the_checklist_timezone(cli, demo_db: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "matrix", "--tag", DEMO_TAG, "--as-of", "2025-06-28T07:00Z", "--format", "csv",
        "--silent-after", "1m", "--db", str(demo_db),
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(result.out.removeprefix("\ufeff"))))
    times = [r[k] for r in rows for k in ("due", "evidence_at", "province_last_heard") if r[k]]
    assert any(r["evidence_at"] for r in rows) and any(r["province_last_heard"] for r in rows)
    assert times and all(t.endswith("+07:00") for t in times), {t[-6:] for t in times}
    assert any(r["evidence_at"] == "2025-06-28T13:00:00+07:00" for r in rows)
    assert any(r["province_last_heard"] == "2025-06-28T13:00:00+07:00" for r in rows)


def test_commune_csv_and_junit_times_are_in_the_checklist_timezone(  # type: ignore[no-untyped-def]
    cli, demo_db: Path, elsewhere: Path, tmp_path: Path
) -> None:
    """The commune rows (`--communes` CSV) and JUnit's properties write times as every other
    format does: in the checklist's time zone, whatever offset `--as-of` was given in."""
    communes, junit = tmp_path / "communes.csv", tmp_path / "junit.xml"
    result = cli(
        "matrix", "-p", "31", "--step", "online-filing-test", "--as-of", "2025-06-28T07:00Z",
        "--communes", "--silent-after", "1m", "--format", f"csv:{communes}",
        "--format", f"junit:{junit}", "--db", str(demo_db),
    )  # fmt: skip
    assert result.code in (0, 1), result.err
    text = communes.read_text(encoding="utf-8-sig")
    sections = text.split("\n\n")
    rows = [r for part in sections for r in csv.DictReader(io.StringIO(part))]
    stamps = [r["evidence_at"] for r in rows if r.get("evidence_at")]
    assert len(stamps) > 100 and all(t.endswith("+07:00") for t in stamps), {t[-6:] for t in stamps}
    xml = junit.read_text(encoding="utf-8")
    assert 'name="as_of" value="2025-06-28T14:00:00+07:00"' in xml
    xml = cli(
        "matrix", "-p", "31", "--step", "online-filing-test", "--as-of", "2025-06-28T07:00Z",
        "--silent-after", "1m", "--format", "junit", "--db", str(demo_db),
    ).out  # fmt: skip
    silent = re.findall(r'name="silent_provinces" value="([^"]*)"', xml)
    assert silent == ["31=2025-06-28T13:00:00+07:00"], silent


def test_every_json_time_is_in_the_checklist_timezone_whatever_as_of_says(
    cli, demo_db: Path, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    outputs = []
    for as_of in (DEMO_AS_OF, "2025-06-28T06:00:00Z", "2025-06-28T08:00+02:00"):
        result = cli(
            "matrix", "--tag", DEMO_TAG, "--as-of", as_of, "--format", "json",
            "--db", str(demo_db),
        )  # fmt: skip
        outputs.append(result.out)
    assert outputs[0] == outputs[1] == outputs[2]
    data = json.loads(outputs[0])
    assert data["as_of"] == "2025-06-28T13:00:00+07:00"
    times = re.findall(r'"(?:as_of|due|evidence_at|until|last_heard)": "([^"]+)"', outputs[0])
    assert len(times) > 100 and all(t.endswith("+07:00") for t in times)


def test_waiver_until_in_json_is_in_the_checklist_timezone(
    cli, demo_copy: Path, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    waive = cli(
        "waive", "31", "portal-closure", "--reason", "chờ Bộ", "--approver", "Lê C",
        "--until", "2100-01-01T00:00", "--db", str(demo_copy),
    )  # fmt: skip
    assert waive.code == 0, waive.err
    result = cli(
        "matrix", "-p", "31", "--tag", DEMO_TAG, "--format", "json", "--db", str(demo_copy)
    )
    cell = next(c for c in json.loads(result.out)["cells"] if c["step"] == "portal-closure")
    assert cell["waiver"]["until"] == "2100-01-01T00:00:00+07:00"


@pytest.mark.parametrize("command", ["matrix", "summary", "check"])
@pytest.mark.parametrize(
    "as_of", ["2101-01-02", "1999-12-31T23:00+00:00", "9999-12-31T23:59", "0001-01-01T00:00"]
)
def test_as_of_takes_the_live_pages_range(
    cli, demo_db: Path, elsewhere: Path, command: str, as_of: str
) -> None:  # type: ignore[no-untyped-def]
    where = ["-p", "31"] if command == "check" else ["--db", str(demo_db)]
    result = cli(command, *where, "--as-of", as_of)
    assert result.code == 2
    assert f"--as-of: {as_of!r} is outside 2000-2100" in result.err
    assert result.out == ""


@pytest.mark.parametrize("command", ["matrix", "summary"])
def test_a_future_as_of_is_a_forecast_and_says_so(
    cli, demo_db: Path, elsewhere: Path, command: str
) -> None:  # type: ignore[no-untyped-def]
    result = cli(command, "--tag", DEMO_TAG, "--as-of", "2100-12-31T23:00", "--db", str(demo_db))
    assert result.out
    notes = [line for line in result.err_lines if "forecast" in line]
    assert len(notes) == 1 and notes[0].startswith("cutover: note: 2100-12-31T23:00:00+07:00")
    assert "not a record" in notes[0]
    past = cli(command, "--tag", DEMO_TAG, "--as-of", DEMO_AS_OF, "--db", str(demo_db))
    assert "forecast" not in past.err
    first = cli(command, "--tag", DEMO_TAG, "--as-of", "2000-01-01T00:00Z", "--db", str(demo_db))
    assert first.code != 2 and "forecast" not in first.err


@pytest.mark.parametrize(
    "as_of",
    ["1999-12-31T23:59Z", "2000-01-01T06:59", "2000-01-01T07:00", "2100-12-31T23:59Z",
     "2101-01-01T06:59", "2101-01-01T07:00", "9999-12-31T23:59", "2025-06-28T13:00+07:00"],
)  # fmt: skip
def test_the_command_line_and_the_page_accept_the_same_times(as_of: str) -> None:
    from cutover.errors import UsageError
    from cutover.web.pages import Query

    def accepted(parse) -> bool:  # type: ignore[no-untyped-def]
        try:
            parse()
        except UsageError:
            return False
        return True

    now = datetime.fromisoformat("2025-06-28T13:00+07:00")
    cli_ok = accepted(lambda: service.as_of_time(as_of, now))
    assert cli_ok == accepted(lambda: Query.parse({"as_of": as_of}, "en", now))


def test_a_time_moments_ahead_is_not_called_a_forecast() -> None:
    """Clocks differ by seconds between the machines that write and read: a table a few
    seconds or minutes ahead is the table now, not a forecast."""
    from cutover.service import FORECAST_AFTER, forecast_line

    now = datetime(2025, 6, 28, 6, tzinfo=UTC)
    assert forecast_line(now + timedelta(seconds=1), now) is None
    assert forecast_line(now + FORECAST_AFTER, now) is None
    line = forecast_line(now + FORECAST_AFTER + timedelta(seconds=1), now)
    assert line is not None and "forecast" in line
