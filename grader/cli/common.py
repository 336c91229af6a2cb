"""What the commands share: the file formats `run` writes, the assignments a command is about,
and the check that their expected values are current before anything is graded."""

from __future__ import annotations

import sys

import click

from grader.errors import GraderError
from grader.reading import assignment as spec

FILE_FORMATS = ("html", "gradescope", "junit", "feedback")
POLICY = click.option(  # run, export and feedback: which of a student's hand-ins counts
    "--policy",
    type=click.Choice(["latest", "best"]),
    default="latest",
    show_default=True,
    help="Which of a student's hand-ins counts.",
)


def assignment_names(names: tuple[str, ...]) -> list[str]:
    """The assignments named on the command line, or all of them."""
    return list(names) or spec.names()


def require_expected(assignment: str | None, *, hidden_too: bool = True, per_student: bool = False) -> None:
    """Exit 2 with one line naming the command to run when an expected/ file a submission may be
    graded against (or, with a secret, the secret cases' file) is missing, unreadable or out of
    step with its spec (never a traceback later). Per-student variants' files are computed when
    missing: only expected/, which they extend, must be current."""
    from grader.judging import hidden

    try:
        for name in [assignment] if assignment else spec.names():
            a = spec.load(name)
            if per_student:
                hidden.public(a)
            else:
                hidden.choose(a) if hidden_too else hidden.visible(a)
    except GraderError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def known_assignment(assignment: str | None) -> None:
    """A usage error for an --assignment that names no assignment."""
    if assignment is not None and assignment not in spec.names():
        raise click.UsageError(f"unknown assignment {assignment!r}; known: {', '.join(spec.names())}")
