"""One self-contained HTML report, a document people print and circulate: the matrix with its
key and legend (one A4 landscape page), who is behind (most urgent first, with owner and
deadline), what is missing step by step (every reason on the page, no tooltips), progress and
done counts over time with a projected completion, and the communes not done per province.

Rendered with Jinja2 templates (`templates/`, package data) whose blocks the web page will
share.  Autoescaping is on, and the environment's `finalize` passes every value through
`text.html_text` as well (so control characters go too), in element content and attributes
alike.  Inline CSS and SVG only: a CSP forbids any fetch, script, base URL or form target."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from markupsafe import Markup

from cutover.i18n import Lang, translations
from cutover.render.base import RenderOptions
from cutover.render.palette import COLOURS, PATTERNS, SERIES, TEXT_ON
from cutover.render.report import build, css_class
from cutover.render.text import html_text
from cutover.rollup import Matrix

# No script, no fetch: default-src covers scripts, frames and connections; base-uri and
# form-action do not fall back to it, so they are closed explicitly.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def render(matrix: Matrix, options: RenderOptions) -> str:
    page = environment(options.lang).get_template("report.html.j2")
    html: str = page.render(
        report=build(matrix, options),
        communes_only=options.communes,
        csp=Markup(CSP),  # our own constant, written as is (a test removes it verbatim)
    )
    return html


def inert(value: Any) -> Any:
    """Every value a template writes: our markup as is, anything else through `html_text`."""
    if isinstance(value, Markup):
        return value
    return _inert_text("" if value is None else str(value))


@lru_cache(maxsize=8192)
def _inert_text(text: str) -> Markup:
    # A report writes tens of thousands of values, mostly the same few thousand (names,
    # statuses, a reason shared by every commune of a step): each is made inert once.
    return Markup(html_text(text))


@cache
def environment(lang: Lang) -> Any:
    """The template environment of one language (templates are compiled once per process)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cutover.render", "templates"),
        autoescape=True,
        finalize=inert,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    # Old-style gettext returns plain text, which `finalize` escapes like any other value.
    env.install_gettext_translations(translations(lang), newstyle=False)  # type: ignore[attr-defined]
    # What every block uses (the web page's environment will set the same).
    env.globals.update(
        colours=COLOURS, patterns=PATTERNS, text_on=TEXT_ON, series=SERIES, css=css_class
    )
    return env
