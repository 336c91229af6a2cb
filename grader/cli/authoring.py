"""The authors' commands: `gradescope-bundle`, `expected`, `release`, `validate`, `new`, `reproduce`.
Each imports what it runs when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader.cli.common import assignment_names
from grader.errors import GraderError
from grader.reading import assignment as spec

if TYPE_CHECKING:
    from grader.authoring import expected as expected_mod


@click.command("gradescope-bundle")
@click.argument("name")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip to write [default: NAME-autograder.zip].",
)
def gradescope_bundle_cmd(name: str, output: Path | None) -> None:
    """Write the Gradescope autograder zip (setup.sh, run_autograder, grader, the assignment;
    with a secret configured, the secret cases' expected values, never the secret).

    Example: grader gradescope-bundle regularization --output regularization-autograder.zip
    """
    from grader.authoring import bundle

    written = bundle.write(spec.load(name), output or Path(f"{name}-autograder.zip"))
    click.echo(f"wrote {written}")
    click.echo(bundle.describe(written, name))


@click.group("secret")
def secret_group() -> None:
    """The installation's secret, which draws the hidden cases' inputs."""


@secret_group.command("init")
@click.option("--force", is_flag=True, help="Replace an existing secret (every secret case changes).")
def secret_init_cmd(force: bool) -> None:
    """Write a new random secret (0600) under the user's configuration folder.

    Example: grader secret init && grader expected --secret
    """
    from grader.reading import secret

    try:
        written = secret.init(force=force)
        removed = secret.forget_cases() if force else 0
        gone = f" (removed the old secret's {removed} expected files)" if removed else ""
        click.echo(f"wrote {written}{gone}; now run `grader expected --secret`")
    except GraderError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _draw(use_secret: bool) -> expected_mod.Draw | None:
    """The secret cases to compute (None: the public expected/), or exit 2 saying why not."""
    from grader.authoring import expected as expected_mod
    from grader.reading import secret

    if not use_secret:
        return None
    key = secret.load()
    if key is None:
        click.echo("error: no secret configured: run `grader secret init` (or set GRADER_SECRET)", err=True)
        sys.exit(2)
    return expected_mod.Draw(key)


@click.command("expected")
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Exit 1 and list the entries that changed, writing nothing.")
@click.option(
    "--secret", "use_secret", is_flag=True,
    help="Compute the secret cases into the file beside the secret (never into expected/).",
)
@click.option(
    "--student", "students", multiple=True, metavar="ID",
    help="With --secret: this student's variant (--variants per-student); repeatable.",
)
@click.option(
    "--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --secret: the variant of every student of this CSV (id, name, email, section).",
)
def expected_cmd(
    names: tuple[str, ...],
    check: bool,
    use_secret: bool,
    students: tuple[str, ...] = (),
    roster: Path | None = None,
) -> None:
    """Regenerate expected/<assignment>.json (or, with --secret, the secret cases' values) from
    the reference solutions.

    Example: grader expected --check
    Example: grader expected --secret --roster class.csv   (every student's variant)
    """
    from grader.authoring import expected as expected_mod

    draw = _draw(use_secret)
    if check and draw is not None:
        raise click.UsageError("--check compares expected/ only")
    if (students or roster is not None) and draw is None:
        raise click.UsageError("--student and --roster choose variants of secret cases: add --secret")
    if draw is not None and (students or roster is not None):
        _variants(names, draw.key, [*students, *_roster_ids(roster)])
        return
    stale = False
    for name in assignment_names(names):
        a = spec.load(name)
        doc = expected_mod.build(a, draw=draw)
        if check:
            old = expected_mod.load(a) if a.expected_path.exists() else {}
            changes = expected_mod.diff(old, doc)
            stale = stale or bool(changes)
            click.echo(f"{name}: " + ("up to date" if not changes else f"{len(changes)} entries changed"))
            for c in changes:
                click.echo(f"  {c}")
        else:
            click.echo(f"wrote {expected_mod.write(a, doc)}")
            if draw is None:  # what a student's `grader check` needs, beside the student notebook
                from grader.authoring import release as release_mod

                click.echo(f"wrote {release_mod.release_visible(a)}")
    if stale:
        sys.exit(1)


def _roster_ids(roster: Path | None) -> list[str]:
    if roster is None:
        return []
    from grader.course.handins import roster as roster_mod

    return list(roster_mod.load(roster))


def _variants(names: tuple[str, ...], key: bytes, students: list[str]) -> None:
    """Compute the per-student variants' documents that are missing or stale (a batch graded
    with --variants per-student computes its own; this makes them ahead, e.g. for a roster)."""
    from grader.authoring import variants

    if not students or not all(s.strip() for s in students):
        raise click.UsageError("no student ids: --student takes a non-empty id, --roster a CSV with ids")
    made = variants.ensure(variants.of_students(assignment_names(names), students, key), key=key)
    click.echo(made.to_text())


@click.command("release")
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Exit 1 when a student notebook is out of date.")
def release_cmd(names: tuple[str, ...], check: bool) -> None:
    """Write the student notebooks in assignments/ from reference/.

    Example: grader release --check
    """
    from grader.authoring import release as release_mod

    stale = []
    for name in assignment_names(names):
        a = spec.load(name)
        if check:
            if not release_mod.is_current(a):
                stale.append(str(a.student_notebook))
        else:
            click.echo(f"wrote {release_mod.release(a)}")
    if stale:
        click.echo("out of date with reference/: " + ", ".join(stale) + " (run `grader release`)")
        sys.exit(1)
    if check:
        click.echo("student notebooks are up to date")


@click.command("validate")
@click.argument("names", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "junit"]), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option("--only", multiple=True, metavar="CHECK", help="Run only this check (repeatable).")
@click.option("--skip", multiple=True, metavar="CHECK", help="Leave this check out (repeatable).")
def validate_cmd(
    names: tuple[str, ...], fmt: str, output: Path | None, only: tuple[str, ...], skip: tuple[str, ...]
) -> None:
    """Check assignments as a course's CI would: a line per check, exit 1 on any failure.

    Checks: spec, release, agreement (spec vs expected/), finite, expected, reference-fast,
    reference-full, blank, descriptions, mistakes, secret (when a secret is configured: its cases
    current, one for every hidden case with `vary`, every mistake told apart on one), reproduce
    (when reference/NAME/reproduce.py exists).

    Example: grader validate --format junit --output validate.xml   (prints the lines too)
    """
    from grader.authoring import validate

    unknown = sorted((set(only) | set(skip)) - set(validate.CHECKS))
    if unknown:
        raise click.UsageError(f"unknown checks {unknown}; known: {', '.join(validate.CHECKS)}")
    if not assignment_names(names):
        raise click.UsageError("no assignments found under assignments/")
    checks = []
    for name in assignment_names(names):
        for c in validate.validate(name, only=only, skip=skip):
            checks.append(c)
            if fmt == "text" or output is not None:  # the lines, unless stdout carries the XML
                click.echo(validate.to_text([c]))
    if fmt == "junit":
        text = validate.to_junit(checks)
        if output is None:
            click.echo(text, nl=False)
    else:
        text = validate.to_text(checks) + "\n"
    if output is not None:
        from grader.files import write_atomic

        write_atomic(output, text)
    failed = [f"{c.assignment}: {c.name}" for c in checks if c.passed is False]
    summary = f"{len(failed)} of {len(checks)} checks failed" + (f": {', '.join(failed)}" if failed else "")
    click.echo(summary, err=True)
    if failed:
        sys.exit(1)


@click.command("new")
@click.argument("name")
@click.option("--notebook", help="The notebook's file name [default: from NAME, e.g. Optimization.ipynb].")
def new_cmd(name: str, notebook: str | None) -> None:
    """Scaffold a new assignment: its spec, cases, reference notebook and an empty mistake catalogue.

    Example: grader new optimization
    """
    from grader.authoring import scaffold

    for path in scaffold.new(name, root=spec.project_root(), notebook=notebook):
        click.echo(f"wrote {path}")
    click.echo(
        f"next: write the reference in reference/{name}/, its cases in assignments/{name}/, then\n"
        f"  grader release {name} && grader expected {name} && grader validate {name}"
    )


@click.command("reproduce")
@click.argument("name")
@click.option(
    "--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The course's data file."
)
def reproduce_cmd(name: str, data: Path | None) -> None:
    """Train the course's models with the reference and check every figure the course prints.

    Example: grader reproduce regularization --data ../shared/data/regularization_data.mat
    """
    from grader.authoring import reproduce

    ok = reproduce.main(spec.load(name), data=data)
    if not ok:
        sys.exit(1)
