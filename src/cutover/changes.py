"""What changed between two matrices, and the webhook that tells someone."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

from cutover.rollup import Matrix

NOTIFY_TIMEOUT = 10


@dataclass(frozen=True)
class Change:
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

    def line(self) -> str:
        return f"{self.province} {self.step}: {self.before or 'new'} -> {self.after}" + (
            f" ({self.reason})" if self.reason and self.after != "done" else ""
        )


def diff(before: Matrix | None, after: Matrix) -> list[Change]:
    changes = []
    for key, cell in after.cells.items():
        old = before.cells.get(key) if before else None
        if old is None or old.status != cell.status:
            changes.append(
                Change(
                    cell.province, cell.step, old.status if old else None, cell.status, cell.reason
                )
            )
    return changes


def notify(url: str, changes: list[Change], after: Matrix) -> str | None:
    """POST the notable changes as JSON; returns a problem description or None on success."""
    notable = [c for c in changes if c.kind]
    if not notable:
        return None
    body = json.dumps(
        {
            "source": "cutover",
            "checklist": after.checklist.id,
            "as_of": after.as_of.isoformat(),
            "changes": [{**asdict(c), "kind": c.kind} for c in notable],
            "text": "\n".join(c.line() for c in notable),
        },
        ensure_ascii=False,
    ).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=NOTIFY_TIMEOUT) as response:
            if response.status >= 300:
                return f"webhook {url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"webhook {url} answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"webhook {url} failed: {reason}"
    return None
