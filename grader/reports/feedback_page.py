"""A feedback notebook as one self-contained page: nbconvert's HTMLExporter with our template.

No script, no network: inline CSS, figures as data URIs, a Content-Security-Policy that forbids
anything else (should a sanitiser ever let something through), and every piece of student HTML
(markdown cells, HTML outputs) passed through `safe.html` as it is written.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from markupsafe import Markup

from grader.reports import safe

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_LOCAL = threading.local()  # an exporter per thread: building one costs more than a page


def _annotation(data: Any) -> Markup:
    """One cell of ours as HTML, from its data, with autoescaping (messages hold student text)."""
    template = getattr(_LOCAL, "annotation", None)
    if template is None:
        from jinja2 import Environment, FileSystemLoader

        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True)
        env.filters["num"] = lambda x: f"{x:g}"
        template = _LOCAL.annotation = env.get_template("annotation.html.j2")
    return Markup(template.render(a=data))


def _safe_html(fragment: Any) -> Markup:
    return Markup(safe.html(str(fragment)))


def _exporter() -> Any:
    exporter = getattr(_LOCAL, "exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(
            template_file="feedback.html.j2",
            extra_template_paths=[str(TEMPLATES / "feedback")],
            exclude_anchor_links=True,
            optimistic_validation=True,  # one validation of our own rebuilt notebook, not one per step
        )
        exporter.register_filter("annotation", _annotation)
        exporter.register_filter("safe_html", _safe_html)
        _LOCAL.exporter = exporter
    return exporter


def _css() -> str:
    return "\n".join((TEMPLATES / name).read_text(encoding="utf-8") for name in ("style.css", "feedback.css"))


def render(nb: dict[str, Any], title: str) -> str:
    """The page of a feedback notebook (`feedback.annotated`'s, made safe by `safe.notebook`)."""
    import nbformat

    node = nbformat.from_dict(nb)
    resources = {"grader": {"title": title, "csp": CSP, "css": _css()}}
    page, _ = _exporter().from_notebook_node(node, resources=resources)
    return str(page)
