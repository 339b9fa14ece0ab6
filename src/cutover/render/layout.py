"""Fitting text to a terminal: wrapping with a hanging indent and laying out a grid of short
cells so that no line is wider than the terminal and nothing is cut.

Widths are terminal cells (`rich.cells.cell_len`), not characters.  Text is never cut with `…`:
what does not fit wraps, and a grid too wide for the terminal is transposed or split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

GAP = 1  # spaces between grid columns


def wrap(console: Console, text: Text, width: int, indent: int = 0, first: int = 0) -> list[Text]:
    """`text` wrapped to `width`; lines after the first are indented by `indent` spaces, and
    the first line leaves room for a `first`-cell prefix the caller puts in front."""
    first_room = max(width - first, 4)
    rest_room = max(width - indent, 4)
    lines = list(text.wrap(console, first_room, overflow="fold"))
    if not lines:
        return [Text("")]
    head = lines[0]
    head.rstrip()
    if len(lines) == 1:
        return [head]
    rest = text[len(head.plain) :]
    rest = rest[len(rest.plain) - len(rest.plain.lstrip()) :]
    out = [head]
    for line in rest.wrap(console, rest_room, overflow="fold"):
        line.rstrip()
        out.append(Text(" " * indent) + line)
    return out


def labelled(
    console: Console, lead: Text, body: Text, width: int, indent: int | None = None
) -> list[Text]:
    """`lead` then `body`, wrapped under the body's start (or `indent`)."""
    indent = cell_len(lead.plain) if indent is None else indent
    lines = wrap(console, body, width, indent, first=cell_len(lead.plain))
    lines[0] = lead + lines[0]
    return lines


@dataclass(frozen=True)
class Column:
    head: str
    cells: Sequence[Text]  # one per row

    @property
    def width(self) -> int:
        return max([cell_len(self.head), *(cell_len(c.plain) for c in self.cells)])


def grid_width(label_width: int, columns: Sequence[Column]) -> int:
    return label_width + sum(GAP + c.width for c in columns)


def grid(
    console: Console,
    labels: Sequence[Text],
    columns: Sequence[Column],
    label_width: int,
    *,
    head_style: str = "bold",
    rules: Sequence[int] = (),
    indent: int = 0,
) -> list[Text]:
    """Rows of `labels` (wrapped within `label_width`, continuation lines indented by
    `indent`) and centred cells under their heads; a rule line before each row in `rules`."""
    head = Text(" " * label_width)
    for column in columns:
        head.append(" " * GAP)
        head.append_text(_centred(Text(column.head, style=head_style), column.width))
    head.rstrip()
    lines = [head]
    total = grid_width(label_width, columns)
    for row, name in enumerate(labels):
        if row in rules:
            lines.append(Text("─" * total, style="dim"))
        parts = wrap(console, name, label_width, indent=indent) if name.plain else [Text("")]
        first = parts[0]
        first.pad_right(label_width - cell_len(first.plain))
        for column in columns:
            first.append(" " * GAP)
            first.append_text(_centred(column.cells[row], column.width))
        first.rstrip()
        lines.append(first)
        lines += parts[1:]
    return lines


def _centred(cell: Text, width: int) -> Text:
    """`cell` in `width` cells, the odd space on the left (under a right-aligned number)."""
    spare = width - cell_len(cell.plain)
    out = Text(" " * (spare - spare // 2))
    out.append_text(cell)
    out.append(" " * (spare // 2))
    return out


def chunks(columns: Sequence[Column], room: int) -> list[list[Column]]:
    """Consecutive groups of `columns`, each at most `room` cells wide (gaps included)."""
    groups: list[list[Column]] = [[]]
    used = 0
    for column in columns:
        need = GAP + column.width
        if groups[-1] and used + need > room:
            groups.append([])
            used = 0
        groups[-1].append(column)
        used += need
    return groups
