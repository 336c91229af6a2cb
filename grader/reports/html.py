"""The HTML report: one self-contained page per submission (inline CSS and images), and an index.

Rendering only: everything shown comes from a Report; nothing here decides a grade.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from grader.files import file_names, write_atomic
from grader.reports import summary, unbuilt
from grader.results import Report, TestResult
from grader.sandbox import codec

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_ROWS, MAX_COLS = 12, 12  # entries of an array shown side by side
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
# The index's one script: it sorts the submissions table (the page reads the same without it).
# The page's Content-Security-Policy allows this script alone, by its hash: nothing a submission
# put in the page (escaped anyway) could run.
SORT_SCRIPT = (TEMPLATES / "sort.js").read_text(encoding="utf-8")
SORT_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()


@dataclass(frozen=True)
class Leaf:
    """One value of a failed case, expected beside received."""

    label: str
    expected: list[list[str]]  # rows of formatted entries
    received: list[list[str]]
    wrong: list[list[bool]]  # per received entry, when the shapes agree
    note: str = ""
    error_png: str = ""  # base64 heat map of |received - expected|

    @property
    def differs(self) -> bool:
        return any(any(row) for row in self.wrong)


@cache
def _env() -> Environment:
    """One environment per process: it compiles each template once (a class of 200 pages would
    otherwise compile them 200 times, most of the time spent writing them)."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True)
    env.filters["num"] = lambda x: f"{x:g}"
    return env


def _fmt(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, float, np.integer, np.floating)):
        return f"{x:.6g}"
    return repr(x)


def _grid(value: Any) -> tuple[list[list[str]], str]:
    """Rows of formatted entries (cut to MAX_ROWS x MAX_COLS) and a note on the value's shape."""
    if isinstance(value, np.ndarray):
        arr = value.reshape(1, -1) if value.ndim < 2 else value.reshape(value.shape[0], -1)
        rows = [[_fmt(x) for x in row[:MAX_COLS]] for row in arr[:MAX_ROWS]]
        cut = " (cut)" if arr.shape[0] > MAX_ROWS or arr.shape[1] > MAX_COLS else ""
        return rows, f"shape {value.shape}, dtype {value.dtype}{cut}"
    text = _fmt(value)
    return [[text if len(text) < 120 else text[:120] + "..."]], type(value).__name__


def _wrong(exp: Any, got: Any, atol: float, rtol: float) -> list[list[bool]] | None:
    """Entry by entry, whether received differs from expected beyond the case's tolerance."""
    try:
        e = np.asarray(exp, dtype=np.float64)
        g = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if e.shape != g.shape:
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (e == g) | (np.isnan(e) & np.isnan(g)) | (np.abs(g - e) <= atol + rtol * np.abs(e))
    bad = ~ok
    bad = bad.reshape(1, -1) if bad.ndim < 2 else bad.reshape(bad.shape[0], -1)
    return [[bool(x) for x in row[:MAX_COLS]] for row in bad[:MAX_ROWS]]


def _heatmap(exp: Any, got: Any) -> str:
    """A small PNG of |received - expected|, base64; empty when it would not say anything. A
    class repeats its wrong answers: a picture already drawn for the same values is reused."""
    if not (isinstance(exp, np.ndarray) and isinstance(got, np.ndarray)) or exp.shape != got.shape:
        return ""
    if exp.size < 2 or exp.dtype.kind not in "biuf" or got.dtype.kind not in "biuf":
        return ""
    key = hashlib.sha256(
        f"{exp.shape}{exp.dtype}{got.dtype}".encode()
        + np.ascontiguousarray(exp).tobytes()
        + b"|"
        + np.ascontiguousarray(got).tobytes()
    ).hexdigest()
    with _DRAWN_LOCK:
        if key in _DRAWN:
            return _DRAWN[key]
    png = _draw_heatmap(exp, got)
    with _DRAWN_LOCK:
        _DRAWN[key] = png
        while len(_DRAWN) > MAX_DRAWN:
            _DRAWN.pop(next(iter(_DRAWN)))
    return png


MAX_DRAWN = 256  # heat maps kept (a few KB each)
_DRAWN: dict[str, str] = {}
_DRAWN_LOCK = threading.Lock()


def _draw_heatmap(exp: np.ndarray, got: np.ndarray) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    err = np.abs(got.astype(np.float64) - exp.astype(np.float64))
    err = err.reshape(1, -1) if err.ndim < 2 else err.reshape(err.shape[0], -1)
    fig = Figure(figsize=(2.6, 2.0), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(
        np.nan_to_num(err, nan=0.0, posinf=0.0), cmap="Reds", aspect="auto", interpolation="nearest"
    )
    ax.set_title("|received - expected|", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=ax).ax.tick_params(labelsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def _leaves(exp: Any, got: Any, label: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(exp, dict) and isinstance(got, dict):
        for k in exp:
            _leaves(exp[k], got.get(k, _MISSING), f"{label}[{k!r}]", out)
    elif isinstance(exp, (list, tuple)) and isinstance(got, (list, tuple)) and len(exp) == len(got):
        for i, (e, g) in enumerate(zip(exp, got, strict=True)):
            _leaves(e, g, f"{label}[{i}]", out)
    else:
        out.append((label, exp, got))


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()


def _select(value: Any, path: str) -> Any:
    for part in path.split("."):
        if (
            isinstance(value, (list, tuple))
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def leaves(evidence: dict[str, Any]) -> list[Leaf]:
    """Expected and received of a failed case, value by value, differing leaves first."""
    exp, got = codec.decode(evidence["expected"]), codec.decode(evidence["received"])
    atol, rtol = float(evidence.get("atol", 0.0)), float(evidence.get("rtol", 0.0))
    pairs: list[tuple[str, Any, Any]] = []
    for path in evidence.get("outputs") or [""]:
        base = "output" + "".join(f"[{p}]" for p in path.split(".")) if path else "output"
        e = _select(exp, path) if path else exp
        g = _select(got, path) if path else got
        _leaves(e, g, base, pairs)
    result = []
    for label, e, g in pairs:
        rows_e, note_e = _grid(e)
        rows_g, note_g = _grid(g)
        wrong = _wrong(e, g, atol, rtol)
        note = note_e if note_e == note_g else f"expected {note_e}; received {note_g}"
        if wrong is None:
            same = repr(e) == repr(g) if not isinstance(e, np.ndarray) else False
            wrong = [[not same for _ in row] for row in rows_g]
        differs = any(any(row) for row in wrong) or note_e != note_g
        result.append(Leaf(label, rows_e, rows_g, wrong, note, _heatmap(e, g) if differs else ""))
    result.sort(key=lambda leaf: not leaf.differs)
    return result


def _figures(report: Report) -> list[dict[str, Any]]:
    ex = report.extra.get("execution")
    images = ex.get("images", []) if isinstance(ex, dict) else []
    return [i for i in images if isinstance(i, dict) and _B64.match(str(i.get("png", "")))]


def _evidence(t: TestResult) -> list[Leaf]:
    if t.passed or t.hidden or not t.evidence:
        return []
    try:
        return leaves(t.evidence)
    except Exception:  # the values are an extra: one that cannot be shown (a forged one) is left out
        return []


def page(report: Report, feedback: str | None = None) -> str:
    """One submission's page; `feedback`: the file name of its feedback page, linked from it."""
    evidence = {
        (f.name, t.name): _evidence(t)
        for f in report.functions
        for t in f.tests
        if not t.passed and not t.hidden
    }
    ex = report.extra.get("execution")
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            r=report,
            evidence=evidence,
            execution=ex if isinstance(ex, dict) else None,
            figures=_figures(report),
            feedback=feedback,
        )
    )


def _named(report: Report) -> list[str]:
    """The ids of the mistakes recognised anywhere in a submission, in order."""
    ids = [t.mistake["id"] for f in report.functions for t in f.tests if t.mistake and "id" in t.mistake]
    return list(dict.fromkeys(ids))


Owners = tuple[list[list[str]], list[list[str]]]  # per report: who handed it in, whom it counts for


def _students(owners: Owners | None, n: int) -> list[list[tuple[str, bool]]]:
    """Per row: each student who handed the file in, and whether it is their counted hand-in."""
    if owners is None:
        return [[] for _ in range(n)]
    return [[(s, s in counted) for s in mine] for mine, counted in zip(*owners, strict=True)]


def index(
    reports: list[Report],
    links: list[str],
    digest: summary.Summary | None = None,
    feedback: list[str | None] | None = None,
    owners: Owners | None = None,
) -> str:
    """The batch's index page: what the class got wrong (from `digest`, the batch's summary), and
    one row per submission, linking to its page (and its feedback page), with its students (from
    `owners`, when hand-ins name them) and a column per graded function."""
    if digest is None:
        digest = summary.summarise([r.to_dict() for r in reports], who=owners[1] if owners else None)
    functions = list(dict.fromkeys(f.name for r in reports for f in r.functions))
    scores = [{f.name: f for f in r.functions} for r in reports]
    students = _students(owners, len(reports))
    rows = list(zip(reports, links, scores, feedback or [None] * len(reports), students, strict=True))
    mistakes_png = summary.mistakes_png(digest)
    return (
        _env()
        .get_template("index.html.j2")
        .render(
            rows=rows,
            with_students=owners is not None,
            named=_named,
            functions=functions,
            s=digest,
            mean=sum(digest.percents) / len(digest.percents) if digest.percents else 0.0,
            overview=base64.b64encode(summary.overview_png(digest)).decode(),
            mistakes_png=base64.b64encode(mistakes_png).decode() if mistakes_png else "",
            script=Markup(SORT_SCRIPT),
            script_hash=SORT_SCRIPT_HASH,
        )
    )


def page_names(reports: list[Report]) -> list[str]:
    """A distinct file name per submission page (never index.html), by `files.file_names`."""
    return [f"{name}.html" for name in file_names([r.submission for r in reports])]


def write(
    reports: list[Report],
    output: Path,
    digest: summary.Summary | None = None,
    sources: list[Path | None] | None = None,
    owners: Owners | None = None,
    failed: list[str] | None = None,
) -> list[Path]:
    """Write a page per submission, and an index page when there are several (showing `digest`,
    the batch's summary, when given: it alone knows the clusters' code); with `sources` (each
    report's submitted file), each submission's feedback notebook and page too, linked from both.
    A page that cannot be drawn (a bug of ours) is written as `unbuilt.page` says, and a line saying
    so added to `failed`: one student's page never costs the others theirs, nor the index."""
    from grader.reports import feedback

    names = page_names(reports)
    written = feedback.write(reports, sources, output, failed) if sources is not None else []
    links: list[str | None] = [*feedback.names(reports)] if sources is not None else [None] * len(reports)
    for r, name, link in zip(reports, names, links, strict=True):
        try:
            text = page(r, link)
        except Exception as exc:  # any bug of ours: it costs this page alone
            text = unbuilt.page(r, "its page", exc)
            if failed is not None:
                failed.append(unbuilt.failure(r, "its page", exc))
        write_atomic(output / name, text)
        written.append(output / name)
    if len(reports) > 1:
        try:
            overview = index(reports, names, digest, links, owners)
        except Exception as exc:  # a bug of ours: the class still gets its list of pages
            overview = unbuilt.index(reports, names, exc)
            if failed is not None:
                failed.append(f"the index could not be drawn (an internal error: {unbuilt.why(exc)})")
        write_atomic(output / "index.html", overview)
        written.append(output / "index.html")
    return written
