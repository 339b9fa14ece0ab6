"""Status colours for the HTML report and the workbook, chosen for readers with colour-vision
deficiency and for greyscale print (Okabe–Ito colours, spread in lightness), always shown
with the status symbol as well, never colour alone.

Good is blue, not green, so that "done" and "not done" never rest on telling red from green;
overdue is black, the darkest; regressed is reddish purple and, in the HTML report, striped, so
the two worst statuses differ in lightness and pattern, not only in hue.  The chart uses its
own colours (`SERIES`), none of them a status colour.
"""

from __future__ import annotations

COLOURS = {
    "done": "#0072B2",  # blue
    "failing": "#D55E00",  # vermillion
    "unknown": "#56B4E9",  # sky blue
    "pending": "#DDDDDD",  # light grey
    "at-risk": "#E69F00",  # orange
    "overdue": "#000000",  # black
    "regressed": "#CC79A7",  # reddish purple (+ stripes in HTML)
    "stale": "#F0E442",  # yellow
    "waived": "#BBCCEE",  # pale blue
    "n/a": "#FFFFFF",  # white
}
# Text on each background, for a contrast of at least 4.5:1.
TEXT_ON = {
    "done": "#FFFFFF",
    "failing": "#000000",
    "unknown": "#000000",
    "pending": "#000000",
    "at-risk": "#000000",
    "overdue": "#FFFFFF",
    "regressed": "#000000",
    "stale": "#000000",
    "waived": "#000000",
    "n/a": "#555555",
}
# The chart: done counts (indigo), projection (the same, dashed), deadline (teal); none of
# them is a status colour, so a line is never read as a status.
SERIES = {"line": "#332288", "projection": "#332288", "deadline": "#117733", "grid": "#BBBBBB"}
