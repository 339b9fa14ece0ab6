"""JUnit XML: a test suite per step, a test case per province, so CI systems show the matrix.

Not done → <failure>, n/a or waived → <skipped/>.  Valid against the common JUnit XSD
(windyroad), which wants a timestamp without a zone, properties, system-out and system-err.
Text from outside goes through `text.xml_text`: no NUL or other character XML forbids, bounded.
"""

from __future__ import annotations

from datetime import UTC
from xml.etree import ElementTree as ET

from cutover.render.base import RenderOptions, heartbeat_text, title
from cutover.render.text import xml_text
from cutover.rollup import Matrix

SKIPPED = ("n/a", "waived")


def render(matrix: Matrix, options: RenderOptions) -> str:
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
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("title", xml_text(title(step, options.lang))),
            ("due", step.due.isoformat()),
            ("owner", xml_text(step.owner or "")),
            ("as_of", matrix.as_of.isoformat()),
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
            if cell.status in SKIPPED:
                ET.SubElement(case, "skipped", message=xml_text(cell.reason) or cell.status)
            elif cell.status != "done":
                fraction = f" [{cell.fraction} communes]" if cell.fraction else ""
                detail = xml_text(cell.reason) + fraction
                failure = ET.SubElement(
                    case, "failure", message=f"{cell.status}: {detail}", type=cell.status
                )
                failure.text = detail
        insecure = [f"{c.province} {c.step}" for c in cells if c.insecure]
        ET.SubElement(suite, "system-out").text = (
            f"TLS verification off (insecure: true): {', '.join(insecure)}" if insecure else ""
        )
        ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _silent(matrix: Matrix) -> list[tuple[str, str]]:
    """With a heartbeat, two suite properties: the heartbeat and the silent provinces, each
    with when it was last heard ("never" if it never was)."""
    if matrix.silent_after is None:
        return []
    silent = " ".join(
        f"{code}={heard.isoformat() if heard else 'never'}" for code, heard in matrix.silent.items()
    )
    return [("silent_after", heartbeat_text(matrix)), ("silent_provinces", silent)]
