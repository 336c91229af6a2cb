"""The page of a submission whose own page could not be drawn (a bug of ours): plain escaped
HTML built without templates or nbconvert, so whatever broke the real page cannot break this one.
It says so, and gives the grade: one student's broken page never costs another theirs."""

from __future__ import annotations

from html import escape

from grader.results import Report, one_line

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def why(exc: BaseException) -> str:
    """An exception in one line of text, bounded."""
    return one_line(f"{type(exc).__name__}: {exc}")[:300]


def failure(report: Report, what: str, exc: BaseException) -> str:
    """The line the command prints for a page (`what`) that could not be drawn."""
    return f"{one_line(report.submission)}: {what} could not be drawn (an internal error: {why(exc)})"


def _grade(report: Report) -> str:
    if report.status == "graded":
        return f"{report.score:g} / {report.max_score:g} ({report.percent:.1f}%)"
    return f"not graded: {report.message}"


def _html(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{escape(title)}</title></head><body>{body}</body></html>\n"
    )


def page(report: Report, what: str, exc: BaseException) -> str:
    """A small page standing in for `what` (its page, its feedback page) of `report`."""
    return _html(
        report.submission,
        f"<h1>{escape(report.submission)}</h1><p>{escape(_grade(report))}</p>"
        f"<p>{escape(what[:1].upper() + what[1:])} could not be drawn: an internal error of the "
        f"grader ({escape(why(exc))}). The grade above stands; a rerun draws the page again.</p>",
    )


def index(reports: list[Report], links: list[str], exc: BaseException) -> str:
    """A plain index standing in for the batch's: each submission's grade and a link to its page."""
    rows = "".join(
        f'<li><a href="{escape(link)}">{escape(r.submission)}</a>: {escape(_grade(r))}</li>'
        for r, link in zip(reports, links, strict=True)
    )
    return _html(
        "Submissions",
        f"<h1>Submissions</h1><p>The class's overview could not be drawn: an internal error of the "
        f"grader ({escape(why(exc))}). Each submission's page:</p><ul>{rows}</ul>",
    )
