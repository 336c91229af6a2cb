"""A batch's plots as PNG bytes (matplotlib's Agg canvas: no display, no pyplot state shared
between threads): the score distribution with the pass rate per function, and the catalogued
mistakes and unexplained clusters by how many students they hold. Axes that count students
have integer ticks."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CATALOGUED, UNEXPLAINED = "#d4a72c", "#8250df"  # the page's colours for the two
MAX_BARS = 25  # the most frequent mistakes and clusters; the text and JSON list them all


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def overview(counts: list[int], rates: list[tuple[str, float]]) -> bytes:
    """Two panels: the score histogram (`counts`: students per tenth of the maximum) and the pass
    rate per function (`rates`: name, fraction passed)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(12, 4.5)
    left, right = fig.subplots(1, 2)
    step = 100 / len(counts)
    left.bar([i * step + step / 2 for i in range(len(counts))], counts, width=step * 0.9)
    left.set(xlabel="score (% of maximum)", ylabel="submissions", title="Score distribution", xlim=(0, 100))
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.barh([name for name, _ in rates], [100 * rate for _, rate in rates])
    right.invert_yaxis()
    right.set(xlabel="passed (%)", title="Pass rate per function", xlim=(0, 100))
    return _png(fig)


def mistakes(bars: list[tuple[str, int, bool]]) -> bytes | None:
    """Students per catalogued mistake and per unexplained cluster (`bars`: label, students,
    whether unexplained), most frequent first; None when there are none."""
    from matplotlib.ticker import MaxNLocator

    if not bars:
        return None
    bars = sorted(bars, key=lambda b: -b[1])[:MAX_BARS]
    fig = _figure(12, 1.2 + 0.32 * len(bars))
    ax = fig.subplots()
    colours = [UNEXPLAINED if b[2] else CATALOGUED for b in bars]
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color=colours)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="students", title="What the class got wrong: catalogued mistakes and unexplained clusters")
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)
