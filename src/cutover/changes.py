"""What changed between two matrices, and the webhook that tells someone."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from cutover.rollup import Matrix

NOTIFY_TIMEOUT = 10


@dataclass(frozen=True)
class Change:
    """A cell's status that changed between two matrices (for --quiet and --notify)."""

    province: str
    step: str
    before: str | None
    after: str
    reason: str

    @property
    def kind(self) -> str | None:
        """The changes worth a message: newly done, regressed, newly overdue."""
        if self.after == "done":
            return "done"
        if self.after in ("regressed", "overdue"):
            return self.after
        return None

    def as_json(self) -> dict[str, str | None]:
        """The change for programs: the webhook's `changes` entries and `check --quiet
        --format json` lines."""
        from cutover.render.text import clean

        return {**asdict(self), "reason": clean(self.reason), "kind": self.kind}

    def line(self) -> str:
        from cutover.render.text import terminal

        return f"{self.province} {self.step}: {self.before or 'new'} -> {self.after}" + (
            f" ({terminal(self.reason)})" if self.reason and self.after != "done" else ""
        )


def diff(before: Matrix | None, after: Matrix) -> list[Change]:
    """The cells whose status differs from `before`'s.  A cell first seen as n/a (a step that
    does not apply to the province) is no news: a first `--quiet` run from cron would
    otherwise mail one line for every such cell."""
    changes = []
    for key, cell in after.cells.items():
        old = before.cells.get(key) if before else None
        if old is None and cell.status == "n/a":
            continue
        if old is None or old.status != cell.status:
            changes.append(
                Change(
                    cell.province, cell.step, old.status if old else None, cell.status, cell.reason
                )
            )
    return changes


def redact_url(url: str) -> str:
    """A webhook URL safe to print or store: `secrets.redact_url` (no user-info, no query
    values), and the path masked too, since chat services put the token there
    (`https://api.telegram.org/bot<TOKEN>/sendMessage`)."""
    from urllib.parse import urlsplit, urlunsplit

    from cutover.secrets import redact_url as without_credentials

    shown = without_credentials(url)
    try:
        parts = urlsplit(shown)
    except ValueError:
        return shown
    path = "/***" if parts.path.strip("/") else parts.path
    return urlunsplit(parts._replace(path=path))


def check_webhook(url: str) -> str:
    """The --notify URL, checked before any probing (a typo must not cost a whole run)."""
    from urllib.parse import urlsplit

    from cutover.errors import UsageError

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise UsageError(f"--notify: not a valid URL: {redact_url(url)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--notify must be an http(s) URL with a host, got {redact_url(url)}")
    return url


def notify(
    url: str, changes: list[Change], after: Matrix, timeout: float = NOTIFY_TIMEOUT
) -> str | None:
    """POST the notable changes as JSON; returns a problem description or None on success.
    The whole exchange is bounded by `timeout`: a webhook that drips its answer must not keep
    a cron run alive (urllib's timeout is per socket operation, so the POST runs in a daemon
    thread that is abandoned at the deadline)."""
    import threading

    notable = [c for c in changes if c.kind]
    if not notable:
        return None
    body = json.dumps(
        {
            "source": "cutover",
            "checklist": after.checklist.id,
            # In the checklist's time zone, as every JSON output writes its times.
            "as_of": after.as_of.astimezone(ZoneInfo(after.checklist.timezone)).isoformat(),
            "changes": [c.as_json() for c in notable],
            "text": "\n".join(c.line() for c in notable),
        },
        ensure_ascii=False,
    ).encode()
    shown = redact_url(url)
    outcome: list[str | None] = []

    target, headers = _credentials_as_header(url)

    # Redirects are not followed: urllib would turn the POST into a GET (the changes lost
    # without a word) and send the Basic credentials on to whatever host the answer names.
    # A 3xx is reported like any other answer that is not a success.
    opener = urllib.request.build_opener(_NoRedirect)

    def post() -> None:
        request = urllib.request.Request(target, body, headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read(65536)
                status = response.status
            outcome.append(f"webhook {shown} answered {status}" if status >= 300 else None)
        except urllib.error.HTTPError as exc:
            outcome.append(f"webhook {shown} answered {exc.code}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            outcome.append(f"webhook {shown} failed: {_scrub(str(reason), url)}")

    worker = threading.Thread(target=post, name="webhook", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"webhook {shown} did not answer within {timeout:g} s"
    return outcome[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect: urllib then raises the 3xx as an `HTTPError`."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _credentials_as_header(url: str) -> tuple[str, dict[str, str]]:
    """urllib would take `user:pw@host` for a host name: send user-info as Basic auth."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    headers = {"Content-Type": "application/json"}
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), headers


def _scrub(text: str, url: str) -> str:
    """An error text with the raw URL (and its secrets) replaced by the redacted one."""
    return text.replace(url, redact_url(url))
