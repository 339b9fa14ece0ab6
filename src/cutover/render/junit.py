"""JUnit XML: a test suite per step, a test case per province, so CI systems show the matrix.

Not done → <failure>, n/a or waived → <skipped/>.  Valid against the common JUnit XSD
(windyroad), which wants a timestamp without a zone, properties, system-out and system-err.
Text from outside goes through `text.xml_text`: no NUL or other character XML forbids, bounded.
"""

from __future__ import annotations

from datetime import UTC
from xml.etree import ElementTree as ET

from cutover.render.base import (
    RenderOptions,
    heartbeat_text,
    label,
    local,
    no_evidence_note,
    reason,
    title,
    words_of,
)
from cutover.render.text import xml_text
from cutover.rollup import Matrix

SKIPPED = ("n/a", "waived")


def render(matrix: Matrix, options: RenderOptions) -> str:
    if options.communes:
        return communes(matrix, options)
    _ = words_of(options)
    stamp = matrix.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites")
    for index, step in enumerate(matrix.steps):
        cells = [matrix.cell(p.code, step.id) for p in matrix.provinces]
        failures = sum(1 for c in cells if c.status not in ("done", *SKIPPED))
        skipped = sum(1 for c in cells if c.status in SKIPPED)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=step.id,
            package=matrix.checklist.id,
            id=str(index),
            timestamp=stamp,
            hostname="localhost",
            tests=str(len(cells)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time="0",
        )
        _properties(suite, matrix, options, step.id)
        props = suite.find("properties")
        assert props is not None
        for name, value in (
            ("title", xml_text(title(step, options.lang))),
            ("due", step.due.isoformat()),
            ("owner", xml_text(step.clear("owner", options.lang) or "")),
            *_silent(matrix),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        for p, cell in zip(matrix.provinces, cells, strict=True):
            case = ET.SubElement(
                suite,
                "testcase",
                name=xml_text(f"{p.code} {p.spec.name}"),
                classname=f"{matrix.checklist.id}.{step.id}",
                time="0",
            )
            shown = label(cell.status, options.lang)
            why = xml_text(reason(cell, options.lang))
            if cell.status in SKIPPED:
                ET.SubElement(case, "skipped", message=why or shown)
            elif cell.status != "done":
                fraction = (
                    " " + _("[{fraction} communes done]", fraction=cell.fraction)
                    if cell.fraction
                    else ""
                )
                detail = why + fraction
                failure = ET.SubElement(
                    case, "failure", message=f"{shown}: {detail}", type=cell.status
                )
                failure.text = detail
        insecure = [f"{c.province} {c.step}" for c in cells if c.insecure]
        ET.SubElement(suite, "system-out").text = (
            _("TLS verification off (insecure: true): {cells}", cells=", ".join(insecure))
            if insecure
            else ""
        )
        ET.SubElement(suite, "system-err").text = ""
    return _document(root)


def _properties(suite: ET.Element, matrix: Matrix, options: RenderOptions, step: str) -> None:
    """The suite's properties: the matrix's time and, when the store had nothing by then,
    a note saying so (the metadata every format carries)."""
    props = ET.SubElement(suite, "properties")
    # In the checklist's time zone, as every other format writes its times.
    as_of = local(matrix.as_of, matrix.checklist.timezone).isoformat()
    ET.SubElement(props, "property", name="as_of", value=as_of)
    ET.SubElement(props, "property", name="step", value=step)
    if note := no_evidence_note(matrix, options.lang):
        ET.SubElement(props, "property", name="no_evidence", value=note)


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def communes(matrix: Matrix, options: RenderOptions) -> str:
    """The drill-down: a test suite per province and commune-level step, a case per commune."""
    from cutover.render.communes import blocks

    stamp = matrix.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites")
    for index, b in enumerate(blocks(matrix)):
        units = b.cell.units
        failures = sum(1 for u in units if u.status not in ("done", *SKIPPED))
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{b.province.code} {b.step.id}",
            package=matrix.checklist.id,
            id=str(index),
            timestamp=stamp,
            hostname="localhost",
            tests=str(len(units)),
            failures=str(failures),
            errors="0",
            skipped=str(sum(1 for u in units if u.status in SKIPPED)),
            time="0",
        )
        _properties(suite, matrix, options, b.step.id)
        for u in units:
            case = ET.SubElement(
                suite,
                "testcase",
                name=xml_text(f"{u.commune.code} {u.commune.name}"),
                classname=f"{matrix.checklist.id}.{b.step.id}.{b.province.code}",
                time="0",
            )
            if u.status != "done":
                why = xml_text(reason(u, options.lang))
                shown = label(u.status, options.lang)
                failure = ET.SubElement(case, "failure", message=f"{shown}: {why}", type=u.status)
                failure.text = why
        ET.SubElement(suite, "system-out").text = ""
        ET.SubElement(suite, "system-err").text = ""
    return _document(root)


def _silent(matrix: Matrix) -> list[tuple[str, str]]:
    """With a heartbeat, two suite properties: the heartbeat and the silent provinces, each
    with when it was last heard ("never" if it never was)."""
    if matrix.silent_after is None:
        return []
    silent = " ".join(
        f"{code}={local(heard, matrix.checklist.timezone).isoformat() if heard else 'never'}"
        for code, heard in matrix.silent.items()
    )
    return [("silent_after", heartbeat_text(matrix)), ("silent_provinces", silent)]
