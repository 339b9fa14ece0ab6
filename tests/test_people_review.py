"""Review of `mark`, `waive` and `history`: evidence URLs carry no credentials, option values
out of range are one usage line, and the history note counts in the singular too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SECRETS = ("Hunter2pass", "s3cr3tTok", "officer", "tok3nAbc")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://officer:Hunter2pass@docs.example.gov.vn/bb.pdf?token=s3cr3tTok", "user name"),
        ("https://officer@docs.example.gov.vn/bb.pdf", "user name"),
        ("https://docs.example.gov.vn/bb.pdf?token=s3cr3tTok", "named 'token'"),
        ("https://docs.example.gov.vn/bb.pdf?id=7&sig=tok3nAbc", "named 'sig'"),
        ("https://docs.example.gov.vn/bb.pdf#access_token=tok3nAbc", "named 'access_token'"),
        ("https://s3.example.com/bb.pdf?X-Amz-Credential=tok3nAbc%2F2025", "named 'X-Amz-Cred"),
        ("https://docs.example.gov.vn/bb.pdf?f=tok3nAbc" + "x" * 32, "looks like a token"),
        ("https://docs.example.gov.vn/a b?token=s3cr3tTok", "without spaces"),
        ("https://officer:Hunter2pass@[::1/?token=s3cr3tTok", "not a valid URL"),
    ],
)
def test_evidence_url_with_credentials_is_refused_without_echoing_them(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, url: str, why: str
) -> None:
    """Refused, not stripped (a signed link without its signature no longer opens): exit 2,
    one line saying why and what to do instead, the secret in no output and not stored."""
    first = cli("mark", "79", "2", "--by", "Y", "--evidence", "https://x.gov.vn/a")
    assert first.code == 0, first.err
    marked = cli("mark", "79", "2", "--by", "Y", "--evidence", url, "--status", "failed")
    assert marked.code == 2 and marked.out == ""
    assert len(marked.err_lines) == 1 and marked.err.startswith("cutover: error: --evidence")
    assert why in marked.err
    if why not in ("without spaces", "not a valid URL"):
        assert "--evidence-file" in marked.err
    assert not any(secret in marked.err for secret in SECRETS)
    history = cli("history", "79", "--lang", "en", "--all")
    assert history.code == 0 and len(history.lines) == 1 and "new -> pass" in history.out
    store = Path(os.environ["CUTOVER_DB"])
    for path in (store, store.with_name(store.name + "-wal")):
        if path.exists():
            assert not any(s.encode() in path.read_bytes() for s in SECRETS)


@pytest.mark.parametrize(
    "url",
    [
        "https://docs.example.gov.vn/van-ban/bb.pdf",
        # Portals link documents by ordinary parameters: those are kept.
        "https://dichvucong.gov.vn/p/home/dvc-chi-tiet-thu-tuc.html?ma_thu_tuc=1.001&lang=vi",
        "https://docs.example.gov.vn/bb.pdf#page=3",
    ],
)
def test_evidence_url_without_credentials_is_kept_as_given(cli, elsewhere: Path, url: str) -> None:  # type: ignore[no-untyped-def]
    marked = cli("mark", "79", "2", "--by", "Y", "--evidence", url)
    assert marked.code == 0, marked.err
    assert marked.out.endswith(f"by Y ({url})\n")
    assert url in cli("history", "79", "--lang", "en").out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "99999999999999999999",
            "--limit must be at most 1,000,000 (--all shows every one), got 99999999999999999999",
        ),
        ("1000001", "--limit must be at most 1,000,000 (--all shows every one), got 1000001"),
        ("-99999999999999999999999999999", "--limit must be at least 1, got a 29-digit number"),
        ("0", "--limit must be at least 1, got 0"),
    ],
)
def test_history_limit_out_of_range_is_one_usage_line(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, value: str, message: str
) -> None:
    cli("mark", "79", "2", "--by", "Y", "--evidence", "https://x.gov.vn/a")
    shown = cli("history", "79", "--limit", value)
    assert shown.code == 2 and shown.out == ""
    assert shown.err_lines == [f"cutover: error: {message} (see 'cutover history -h')"]


def test_history_limit_at_the_cap_is_taken(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    cli("mark", "79", "2", "--by", "Y", "--evidence", "https://x.gov.vn/a")
    shown = cli("history", "79", "--limit", "1000000", "--lang", "en")
    assert shown.code == 0 and len(shown.lines) == 1 and shown.err == ""


def test_history_note_says_the_latest_line_in_the_singular(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    for status in ("done", "failed", "done"):
        marked = cli("mark", "79", "2", "--by", "Y", "--evidence", "https://x.gov.vn/a",
                     "--status", status)  # fmt: skip
        assert marked.code == 0, marked.err
    for lang in ("en", "vi"):
        one = cli("history", "79", "--limit", "1", "--lang", lang)
        assert one.code == 0 and len(one.lines) == 1
        assert one.err.startswith(
            "cutover: note: 2 earlier changes not shown (the latest line is); --limit N"
        )
    two = cli("history", "79", "--limit", "2", "--lang", "en")
    assert "1 earlier change not shown (the latest 2 lines are);" in two.err


def test_waiver_expiring_too_far_ahead_is_refused(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    """An expiry that overflows once shown in another zone broke `history` and `matrix` for
    good (an internal error on every later read)."""
    waived = cli("waive", "79", "2", "--reason", "r", "--approver", "a",
                 "--until", "9999-12-31T23:59-12:00")  # fmt: skip
    assert waived.code == 2 and len(waived.err_lines) == 1
    assert "--until 9999-12-31T23:59:00-12:00 is too far ahead" in waived.err
    assert cli("history", "79", "--lang", "en").code == 0
    assert cli("matrix", "--province", "79").code in (0, 1)
    later = cli("waive", "79", "2", "--reason", "r", "--approver", "a",
                "--until", "9998-12-31T23:59+07:00")  # fmt: skip
    assert later.code == 0, later.err
    assert cli("history", "79", "--lang", "en").code == 0
    assert cli("matrix", "--province", "79").code in (0, 1)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "waived  bank holiday until 2027-01-01 00:00  (approved by Lê C)"),
        ("vi", "bank holiday hiệu lực đến 2027-01-01 00:00  (phê duyệt bởi Lê C)"),
    ],
)
def test_a_waiver_ends_in_the_readers_language_and_time_zone(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, lang: str, expected: str
) -> None:
    """Entered as midnight in Vietnam, shown as midnight in Vietnam (the checklist's zone), in
    the chosen language; it used to read `until 2026-12-31T17:00:00+00:00` in every language,
    a day early to a reader in Hanoi."""
    waived = cli("waive", "31", "online-payment-test", "--reason", "bank holiday",
                 "--approver", "Lê C", "--until", "2027-01-01T00:00:00+07:00")  # fmt: skip
    assert waived.code == 0, waived.err
    history = cli("history", "31", "online-payment-test", "--lang", lang)
    assert history.code == 0, history.err
    (line,) = history.lines
    assert line.endswith(expected), line


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://docs.example.gov.vn:0/bb.pdf", "port 0 cannot be connected to"),
        ("http://docs%20example.gov.vn/bb.pdf", "characters a host name cannot have"),
        ("https:///bb.pdf", "no host after https://"),
    ],
)
def test_evidence_url_is_checked_as_a_probe_url_is(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, url: str, why: str
) -> None:
    """`geo.url_problem`, the rule for every URL cutover requests: a link that cannot be
    opened is no evidence."""
    marked = cli("mark", "79", "2", "--by", "Y", "--evidence", url)
    assert marked.code == 2 and marked.out == ""
    assert len(marked.err_lines) == 1, marked.err
    assert marked.err.startswith("cutover: error: --evidence: not a valid URL: "), marked.err
    assert why in marked.err
