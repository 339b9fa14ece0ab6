"""Status colours for the HTML report and the workbook, chosen for readers with colour-vision
deficiency and for greyscale print (Okabe–Ito colours, spread in lightness), always shown
with the status symbol as well, never colour alone.

Good is blue, not green, so that "done" and "not done" never rest on telling red from green;
overdue is black, the darkest; regressed is reddish purple and, in the HTML report, striped, so
the two worst statuses differ in lightness and pattern, not only in hue.  tests/test_report.py
checks every pair under simulated protanopia, deuteranopia and tritanopia, and in greyscale.
The chart uses its own colours (`SERIES`), none of them a status colour.
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
# Patterns over the colour where two statuses are close in lightness, so they still differ in
# greyscale print: regressed is striped, unknown dotted, stale lined.
PATTERNS = {  # CSS declarations, added to the status's colour
    "regressed": "background-image:repeating-linear-gradient("
    "45deg,transparent 0 4px,rgba(0,0,0,.35) 4px 6px)",
    "unknown": "background-image:radial-gradient(rgba(0,0,0,.45) 1px,transparent 1.6px);"
    "background-size:4px 4px",
    "stale": "background-image:repeating-linear-gradient("
    "0deg,transparent 0 3px,rgba(0,0,0,.3) 3px 4px)",
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
