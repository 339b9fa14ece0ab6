"""Text from outside made inert, once, for every output format.

Notes, reasons, waiver reasons, names, owners, titles and remote error snippets come from people
and servers we do not control.  Every renderer passes each such string through one helper here
before it reaches its format:

- `clean`         every format (json as is): control characters, escape sequences, bidi
                  controls, lone surrogates removed; line breaks made `\\n`; bounded (`bound`)
- `one_line`      `clean`, newlines and tabs made spaces
- `terminal`      table, check, summary (and `history`): `one_line`, for a terminal
- `csv_cell`      csv and xlsx: `clean`, formula starters neutralised
- `xml_text`      junit: `clean`, restricted to XML 1.0 characters
- `markdown_cell` markdown: `clean`, on one line, markup characters escaped
- `html_text`     html: `clean`, escaped for text and attribute values alike
- `prom_label`    prometheus: `clean`, escaped as a label value

Every helper is a plain `str -> str` function, safe on any string.  `clean`, `one_line`,
`terminal`, `csv_cell` and `xml_text` are idempotent; the escaping helpers (`markdown_cell`,
`html_text`, `prom_label`) escape again, as any escaper would, so call them once, last.
"""

from __future__ import annotations

import functools
import html
import re

LIMIT = 4096
"""Most characters one free-text value keeps (marker included).  4,096 is far more than any
reason or note needs, keeps a CSV row far below Python's default `csv.field_size_limit()`
(131,072) and a cell far below Excel's 32,767-character limit, so nothing downstream has to
truncate silently."""

# ECMA-48 control strings (OSC, DCS, SOS, PM, APC) with their payload, in 7-bit (ESC ] …) and
# 8-bit (C1) form, ended by BEL, ST (ESC \) or the C1 ST.  OSC carries window titles (OSC 0/2)
# and hyperlinks (OSC 8), so the payload goes too, not only the introducer.
_CONTROL_STRING = r"(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
# ECMA-48 control sequences (CSI … final byte): colours, cursor moves, screen clears.
_CSI = r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
# Any other escape (ECMA-35): ESC c (full reset), ESC 7, ESC ( B, and introducers left alone.
_ESCAPE = r"\x1b[\x20-\x2f]*[\x30-\x7e]"
_SEQUENCES = re.compile(f"{_CONTROL_STRING}|{_CSI}|{_ESCAPE}")
# What str.splitlines() treats as a line boundary, made one "\n".
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# C0 controls but tab and newline, DEL, C1 controls; the Unicode Bidi_Control characters
# (ALM, LRM, RLM, LRE…RLO, LRI…PDI: "Trojan Source", CVE-2021-42574); and U+FFFE/U+FFFF,
# which XML 1.0 does not allow.
_REMOVED = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)
# A surrogate code point in a Python str is always unpaired (json.loads("\"\\ud800\"") makes
# one); it cannot be encoded as UTF-8, so writing it would crash the report.
_SURROGATES = re.compile("[\ud800-\udfff]")
# XML 1.0 § 2.2 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Compiled on first use (`_not_xml`): its ranges take about 7 ms to compile, paid by every
# command that imports this module, and only JUnit needs it.
_NOT_XML = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_WHITESPACE_BREAKS = re.compile(r"[\t\n]+")
# OWASP "CSV Injection" and ASVS 1.2.10: a cell starting with one of these is read as a formula
# by Excel, LibreOffice and Google Sheets.
_FORMULA_STARTERS = ("=", "+", "-", "@")
_MARKDOWN_SPECIAL = re.compile(r"([\\|*_`\[\]<>#~&])")


def bound(text: str, limit: int = LIMIT) -> str:
    """At most `limit` characters; a longer text keeps its beginning and ends with a visible
    `… [cut, 12,345 characters]` (how many were left out), so a reader always sees that text
    was cut and by how much, never a silent truncation by the CSV reader or by Excel."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    while True:  # the marker's own length depends on the number it shows
        marker = f" … [cut, {cut:,} characters]"
        needed = len(text) - (limit - len(marker))
        if needed <= cut:
            return text[: len(text) - cut] + marker
        cut = needed


def clean(text: str) -> str:
    """Text safe to put into any format: terminal escape sequences (CSI, OSC titles and
    hyperlinks, DCS …, in 7- and 8-bit form) removed whole; then every C0 control but tab and
    newline, DEL, every C1 control and the bidi controls removed (so no ESC can survive a
    partial sequence); line breaks (CR LF, CR, VT, FF, NEL, U+2028/9 …) made "\\n"; unpaired
    surrogates replaced by U+FFFD; the result bounded to `LIMIT` characters.  What is left is
    valid XML 1.0 character data and encodes as UTF-8."""
    if text.isprintable():
        # No character in Unicode's Other or Separator categories but the space: no control,
        # line break, bidi control, surrogate or noncharacter, so nothing below would change
        # it (most text, checked once instead of by four expressions).
        return bound(text)
    text = _SEQUENCES.sub("", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _REMOVED.sub("", text)
    text = _SURROGATES.sub("\ufffd", text)
    return bound(text)


def one_line(text: str) -> str:
    """`clean`, with each run of newlines and tabs made one space: for places where a line
    break would forge a new line or row (terminal lines, Markdown table cells)."""
    return _WHITESPACE_BREAKS.sub(" ", clean(text))


def terminal(text: str) -> str:
    """Text for a terminal line (`check`, `matrix`, `summary`, `history`): `one_line`.  No
    escape sequence can retitle the window, clear the screen, plant an OSC 8 link or recolour
    what follows; no bidi override can reorder the line; no newline can forge another line.
    Print it as plain text (rich `Text`), never as console markup."""
    return one_line(text)


def csv_cell(text: str) -> str:
    """A CSV (or xlsx) cell that a spreadsheet shows as text, never runs as a formula: `clean`,
    then a single quote in front of a cell starting with = + - @ (also after leading spaces,
    which some importers trim), tab or a line break, as OWASP's CSV Injection page and ASVS
    1.2.10 recommend.  The csv module quotes cells with commas, quotes and newlines."""
    text = clean(text)
    if text[:1] in ("\t", "\n") or text.lstrip(" ").startswith(_FORMULA_STARTERS):
        return "'" + text
    return text


def xml_text(text: str) -> str:
    """Text for an XML element or attribute (JUnit): `clean`, then anything outside XML 1.0's
    Char production removed, so the document stays well-formed and valid against the XSD;
    ElementTree escapes & < > " and newlines in attributes, and `]]>` is only `]]&gt;`."""
    return _not_xml().sub("", clean(text))


@functools.cache
def _not_xml() -> re.Pattern[str]:
    return re.compile(_NOT_XML)


def markdown_cell(text: str) -> str:
    """Text for a GitHub-flavoured Markdown table cell or heading: `one_line` (a newline would
    end the row), then `\\` | * _ ` [ ] < > # ~ &` backslash-escaped (CommonMark lets any ASCII
    punctuation be escaped), so a `|` cannot add a column and nothing becomes a link, an image,
    code, emphasis, an HTML tag or an entity."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def html_text(text: str) -> str:
    """Text for HTML (and SVG) content and quoted attribute values: `clean`, then & < > " '
    escaped, so no tag, attribute or script can start from data."""
    return html.escape(clean(text), quote=True)


def prom_label(text: str) -> str:
    """A Prometheus label value (text exposition format): `clean`, then backslash, double quote
    and newline escaped as `\\\\`, `\\"` and `\\n`, the only escapes the format defines."""
    return clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
