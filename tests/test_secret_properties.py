"""Secret cases hold under any secret (issue 15): for 50 secrets per assignment, the reference
scores full marks and the released notebook zero on the secret cases, every catalogued mistake
is named on at least one secret case of its function, and the gradient checks' 'below the
threshold' cases stay at least 100x under it. Trusted code (the reference, its mutants) runs in
this process through the same harness and judging, so fifty secrets take seconds, not minutes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from grader.authoring import expected
from grader.grading import grade
from grader.judging import mistakes
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.sandbox import harness, run
from tests import secretkit

SECRETS = 50
CHUNK = 10  # secrets per test item, so that xdist spreads them


@pytest.mark.parametrize("start", range(0, SECRETS, CHUNK))
@pytest.mark.parametrize("name", ["initialization", "regularization", "gradient_checking"])
def test_secret_cases_hold_under_many_secrets(name: str, start: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "execute", secretkit.in_process)
    a = spec.load(name)
    ref = notebook.parse(notebook.read(a.reference_notebook))
    blank = notebook.parse(notebook.read(a.student_notebook))
    catalogue = mistakes.load(a)
    for i in range(start, start + CHUNK):
        key = f"property-secret-{i:03d}-of-{SECRETS}"
        monkeypatch.setenv("GRADER_SECRET", key)
        doc = expected.build(a, draw=expected.Draw(key.encode()))  # raises: a mistake told apart nowhere
        expected.write(a, doc)
        grade.prepare.cache_clear()
        prep = grade.prepare(name)
        assert prep.variant == "" and prep.expected["secret"] == doc["secret"]
        where = f"{name}, secret {i}"
        full = grade.grade_parsed("reference", ref, prep, grade.Options())
        assert full.score == full.max_score, (where, [t.name for f in full.functions for t in f.tests if not t.passed])
        assert grade.grade_parsed("blank", blank, prep, grade.Options()).score == 0, where
        _below_margins(a, doc, where)
        for m in catalogue:
            one = replace(prep, assignment=replace(a, functions=(a.function(m.function),)))
            report = grade.grade_parsed(m.id, mistakes.mutant_parsed(ref, m), one, grade.Options())
            named = {t.name for f in report.functions for t in f.tests if t.hidden and (t.mistake or {}).get("id") == m.id}
            assert named, f"{where}: mistake {m.id} is named on no secret case of {m.function}"


def _below_margins(a: spec.Assignment, doc: dict, where: str) -> None:
    for f in a.functions:
        for c in f.cases:
            if c.below is not None and c.hidden:
                value = float(harness.decode(doc["functions"][f.name][c.name]["output"]))
                assert 0 <= value < c.below / 100, f"{where}: {f.name}/{c.name} = {value:.3g}, threshold {c.below}"


def test_the_secret_files_of_this_test_stay_in_its_own_folder(no_secret: Path) -> None:
    assert not (no_secret / "grader").exists()  # a sanity check of the fixture the test above relies on
