"""Mistake fingerprints: every catalogued mistake is recognised; a correct answer never names one.

A notebook exhibiting a mistake is the reference notebook with that function replaced by the
catalogue's mutant; the "students" below write the same mistakes in their own words.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.authoring import expected as expected_mod
from grader.errors import SpecError
from grader.grading import grade
from grader.judging import mistakes
from grader.judging.compare import judge
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.reading.assignment import Case, Function
from grader.results import Report
from grader.sandbox import codec, run
from grader.sandbox.limits import Limits
from tests.conftest import NUDGE

ASSIGNMENTS = spec.load_all()
CATALOGUE = [(a.name, m) for a in ASSIGNMENTS for m in mistakes.load(a)]
OPTIONS = grade.Options()


@pytest.fixture(scope="module")
def session() -> Iterator[run.Session]:
    with run.Session(Limits()) as s:
        yield s


def _reference_nb(name: str) -> dict[str, Any]:
    return json.loads(spec.load(name).reference_notebook.read_text(encoding="utf-8"))


def _grade(nb: dict[str, Any], path: Path, session: run.Session) -> Report:
    path.write_text(json.dumps(nb), encoding="utf-8")
    return grade.grade_path(path, OPTIONS, session)


def _named(report: Report) -> dict[tuple[str, str], str]:
    return {(f.name, t.name): t.mistake["id"] for f in report.functions for t in f.tests if t.mistake}


def _edit_cell(nb: dict[str, Any], function: str, edits: list[tuple[str, str]]) -> dict[str, Any]:
    """The notebook with textual edits applied to the graded cell of `function`."""
    cells = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and function in notebook.MARKER.findall("".join(c["source"]))
    ]
    assert len(cells) == 1, function
    source = "".join(cells[0]["source"])
    for old, new in edits:
        assert old in source, f"{old!r} is not in the reference's {function}"
        source = source.replace(old, new)
    cells[0]["source"] = source
    return nb


# A catalogue is optional for an assignment (docs/assignment-format.md); the course's three
# week-1 assignments are held to four mistakes per graded function.
COURSE = ("initialization", "regularization", "gradient_checking")


def test_the_course_assignments_catalogue_four_mistakes_per_function() -> None:
    for a in [spec.load(name) for name in COURSE]:
        found = mistakes.load(a)
        for f in a.functions:
            assert len([m for m in found if m.function == f.name]) >= 4, f"{a.name}/{f.name}"


@pytest.mark.parametrize(("name", "mistake"), CATALOGUE, ids=[m.id for _, m in CATALOGUE])
def test_each_catalogued_mistake_is_named(
    name: str, mistake: mistakes.Mistake, tmp_path: Path, session: run.Session
) -> None:
    a = spec.load(name)
    parsed = notebook.parse(notebook.read(a.reference_notebook))
    cell = mistakes.mutant_cell(parsed, mistake)
    nb = _reference_nb(name)
    nb["cells"][cell.index - 1]["source"] = cell.source
    report = _grade(nb, tmp_path / f"{mistake.id}.ipynb", session)
    named = _named(report)
    assert set(named.values()) == {mistake.id}, named
    for f in report.functions:
        for t in f.tests:
            if t.mistake:
                assert f.name == mistake.function and not t.passed
                assert t.message.startswith(f"looks like {mistake.description}: {mistake.hint}")
                assert t.to_dict()["mistake"]["id"] == mistake.id
                assert t.to_dict()["mistake"]["hint"] == mistake.hint


@pytest.mark.parametrize("name", [a.name for a in ASSIGNMENTS])
def test_the_reference_names_no_mistake(name: str, session: run.Session) -> None:
    report = grade.grade_path(spec.load(name).reference_notebook, OPTIONS, session)
    assert report.score == report.max_score
    assert _named(report) == {}
    assert all("mistake" not in t.to_dict() for f in report.functions for t in f.tests)


@pytest.mark.parametrize("name", [a.name for a in ASSIGNMENTS])
def test_a_wrong_answer_unlike_any_mutant_names_none(name: str, tmp_path: Path, session: run.Session) -> None:
    nb = _reference_nb(name)
    for f in spec.load(name).functions:
        _edit_cell(nb, f.name, [(f"def {f.name}(", f"def _reference_{f.name}(")])
        for c in nb["cells"]:
            if f"def _reference_{f.name}(" in "".join(c["source"]):
                c["source"] = "".join(c["source"]) + NUDGE.format(name=f.name)
    report = _grade(nb, tmp_path / "nudged.ipynb", session)
    assert report.score < report.max_score
    assert _named(report) == {}


# Students' own wordings: (assignment, function, edits of the reference cell, the id expected or None).
STUDENTS: list[tuple[str, str, list[tuple[str, str]], str | None]] = [
    # initialization
    ("initialization", "initialize_parameters_zeros",
     [("np.zeros((layers_dims[l], layers_dims[l - 1]))", "np.zeros(shape=(layers_dims[l-1], layers_dims[l]))")],
     "zeros-shape-order"),
    ("initialization", "initialize_parameters_zeros",
     [("np.zeros((layers_dims[l], 1))", "np.zeros((layers_dims[l],))")], "zeros-bias-1d"),
    ("initialization", "initialize_parameters_random",
     [("np.random.randn(layers_dims[l], layers_dims[l - 1]) * 10",
       "np.random.randn(layers_dims[l], layers_dims[l-1]) * 0.01")], None),
    ("initialization", "initialize_parameters_random",
     [("np.random.randn(layers_dims[l], layers_dims[l - 1]) * 10",
       "np.random.randn(layers_dims[l], layers_dims[l-1])")], "random-not-scaled"),
    ("initialization", "initialize_parameters_he",
     [("np.sqrt(2 / layers_dims[l - 1])", "np.sqrt(1. / layers_dims[l-1])")], "he-sqrt-1-over-n"),
    ("initialization", "initialize_parameters_he",
     [("* np.sqrt(2 / layers_dims[l - 1])", "/ np.sqrt(layers_dims[l-1])")], "he-sqrt-1-over-n"),
    ("initialization", "initialize_parameters_he",
     [("* np.sqrt(2 / layers_dims[l - 1])", "* np.sqrt(2) / np.sqrt(layers_dims[l])")], "he-fan-out"),
    ("initialization", "initialize_parameters_he",
     [("* np.sqrt(2 / layers_dims[l - 1])", "* 2 / layers_dims[l-1]")], "he-variance-not-std"),
    ("initialization", "initialize_parameters_he",
     [("* np.sqrt(2 / layers_dims[l - 1])", "* np.sqrt(2. / layers_dims[l - 1]) * 10")], None),
    # regularization
    ("regularization", "compute_cost_with_regularization",
     [("lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))",
       "(lambd / m) * (np.sum(W1**2) + np.sum(W2**2) + np.sum(W3**2))")], "l2-lambd-over-m"),
    ("regularization", "compute_cost_with_regularization",
     [("lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))",
       "lambd/2*m*(np.sum(W1*W1) + np.sum(W2*W2) + np.sum(W3*W3))")], "l2-precedence"),
    ("regularization", "compute_cost_with_regularization",
     [("lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))",
       "lambd * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3))) / 2")],
     "l2-missing-1-over-m"),
    ("regularization", "compute_cost_with_regularization",
     [("lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))",
       "lambd / (2 * m) * sum(np.sum(np.square(v)) for v in parameters.values())")], "l2-on-biases"),
    ("regularization", "backward_propagation_with_regularization",
     [("+ lambd / m * W3", "+ (lambd / (2 * m)) * W3"), ("+ lambd / m * W2", "+ (lambd / (2 * m)) * W2"),
      ("+ lambd / m * W1", "+ (lambd / (2 * m)) * W1")], "l2-grad-over-2m"),
    ("regularization", "backward_propagation_with_regularization",
     [("+ lambd / m * W", "+ lambd * W")], "l2-grad-missing-1-over-m"),
    ("regularization", "forward_propagation_with_dropout",
     [("np.random.rand(A1.shape[0], A1.shape[1])", "np.random.randn(*A1.shape)"),
      ("np.random.rand(A2.shape[0], A2.shape[1])", "np.random.randn(*A2.shape)")], "dropout-mask-randn"),
    ("regularization", "forward_propagation_with_dropout",
     [("D1 = D1 < keep_prob", "D1 = (D1 > keep_prob).astype(int)"),
      ("D2 = D2 < keep_prob", "D2 = (D2 > keep_prob).astype(int)")], "dropout-mask-greater"),
    ("regularization", "forward_propagation_with_dropout",
     [("A1 = A1 * D1", "A1 = np.multiply(A1, D1)"), ("A1 = A1 / keep_prob", "pass"),
      ("A2 = A2 / keep_prob", "pass")], "dropout-not-rescaled"),
    ("regularization", "forward_propagation_with_dropout",
     [("np.random.rand(A1.shape[0], A1.shape[1])", "np.random.rand(A1.shape[0]).reshape(-1, 1)"),
      ("np.random.rand(A2.shape[0], A2.shape[1])", "np.random.rand(A2.shape[0]).reshape(-1, 1)")],
     "dropout-mask-per-unit"),
    ("regularization", "backward_propagation_with_dropout",
     [("dA2 = dA2 / keep_prob", "pass"), ("dA1 = dA1 / keep_prob", "pass")], "dropout-back-not-rescaled"),
    # a mistake made in one layer of two
    ("regularization", "forward_propagation_with_dropout",
     [("np.random.rand(A1.shape[0], A1.shape[1])", "np.random.randn(A1.shape[0], A1.shape[1])")],
     "dropout-mask-randn"),
    ("regularization", "forward_propagation_with_dropout",
     [("D1 = D1 < keep_prob", "D1 = D1 > keep_prob")], "dropout-mask-greater"),
    ("regularization", "backward_propagation_with_regularization",
     [("+ lambd / m * W1", "")], "l2-grad-last-layer-only"),
    ("regularization", "backward_propagation_with_regularization",
     [("+ lambd / m * W3", "+ lambd / (2 * m) * W3")], "l2-grad-over-2m"),
    ("regularization", "forward_propagation_with_dropout",
     [("A2 = A2 / keep_prob", "A2 = A2")], None),  # A3 alone is wrong: no part shows a catalogued mistake
    # gradient checking
    ("gradient_checking", "forward_propagation", [("    J = theta * x\n", "    J = x + theta\n")], "forward-sum"),
    ("gradient_checking", "backward_propagation",
     [("    dtheta = x\n", "    dtheta = 1 * theta\n")], "backward-returns-theta"),
    ("gradient_checking", "gradient_check",
     [("theta_minus = theta - epsilon", "thetaminus = theta_plus - epsilon"),
      ("forward_propagation(x, theta_minus)", "forward_propagation(x, thetaminus)")],
     "check-thetaminus-from-thetaplus"),
    ("gradient_checking", "gradient_check",
     [("gradapprox = (J_plus - J_minus) / (2 * epsilon)",
       "gradapprox = (J_plus - forward_propagation(x, theta)) / epsilon")], "check-one-sided"),
    ("gradient_checking", "gradient_check",
     [("difference = numerator / denominator", "difference = np.linalg.norm(grad - gradapprox)")],
     "check-no-denominator"),
    ("gradient_checking", "gradient_check",
     [("forward_propagation(x, theta_plus)", "x * theta_plus"),
      ("forward_propagation(x, theta_minus)", "x * theta_minus")], "check-hardcoded-cost"),
    ("gradient_checking", "gradient_check",  # seen in real notebooks: neither collaborator called
     [("forward_propagation(x, theta_plus)", "np.dot(theta_plus, x)"),
      ("forward_propagation(x, theta_minus)", "np.dot(theta_minus, x)"),
      ("grad = backward_propagation(x, theta)", "grad = 1 * x")], "check-hardcoded-both"),
    ("gradient_checking", "gradient_check",  # seen in real notebooks: right only because x * theta commutes
     [("J_plus = forward_propagation(x, theta_plus)", "J_plus = forward_propagation(theta_plus, x)"),
      ("J_minus = forward_propagation(x, theta_minus)", "J_minus = forward_propagation(theta_minus, x)")],
     "check-forward-arguments-swapped"),
    ("gradient_checking", "gradient_check_n",
     [("theta_plus = np.copy(theta)", "theta_plus = theta"),
      ("theta_minus = np.copy(theta)", "theta_minus = theta")], "check-n-thetaminus-from-thetaplus"),
    ("gradient_checking", "gradient_check_n",
     [("theta_plus[i, 0] = theta_plus[i, 0] + epsilon", "theta_plus += epsilon"),
      ("theta_minus[i, 0] = theta_minus[i, 0] - epsilon", "theta_minus -= epsilon")], "check-n-every-entry"),
    ("gradient_checking", "gradient_check_n",
     [("gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)",
       "gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * 1e-7)")], None),  # ignores epsilon: not catalogued
]  # fmt: skip

# Right answers in students' own words: full marks, and no mistake named.
RIGHT: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("regularization", "compute_cost_with_regularization",
     [("lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))",
       "(1/m)*(lambd/2)*(np.sum(np.square(W1))+np.sum(np.square(W2))+np.sum(np.square(W3)))")]),
    ("regularization", "backward_propagation_with_regularization",
     [("1. / m * np.dot(dZ3, A2.T) + lambd / m * W3", "(np.dot(dZ3, A2.T) + lambd * W3) / m")]),
    ("regularization", "forward_propagation_with_dropout",
     [("D1 = D1 < keep_prob", "D1 = (D1 < keep_prob).astype(int)"),
      ("D2 = D2 < keep_prob", "D2 = (D2 < keep_prob).astype(int)")]),
    ("initialization", "initialize_parameters_he",
     [("* np.sqrt(2 / layers_dims[l - 1])", "* (2 / layers_dims[l - 1]) ** 0.5")]),
    ("regularization", "backward_propagation_with_dropout",
     [("dA2 = dA2 * D2", "dA2 = np.multiply(dA2, D2)")]),
    ("gradient_checking", "forward_propagation", [("    J = theta * x\n", "    J = np.dot(theta, x)\n")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "function", "edits", "expected"),
    STUDENTS,
    ids=[f"{f}-{e or 'none'}-{i}" for i, (_, f, _, e) in enumerate(STUDENTS)],
)
def test_students_own_wordings_are_named(
    name: str,
    function: str,
    edits: list[tuple[str, str]],
    expected: str | None,
    tmp_path: Path,
    session: run.Session,
) -> None:
    nb = _edit_cell(_reference_nb(name), function, edits)
    report = _grade(nb, tmp_path / "student.ipynb", session)
    by_name = {f.name: f for f in report.functions}
    named = {v for (f, _), v in _named(report).items() if f == function}
    assert by_name[function].score < by_name[function].max_score
    assert named == ({expected} if expected else set()), by_name[function]
    assert all(f == function for f, _ in _named(report))


@pytest.mark.parametrize(("name", "function", "edits"), RIGHT, ids=[f for _, f, _ in RIGHT])
def test_right_answers_in_other_words_name_nothing(
    name: str, function: str, edits: list[tuple[str, str]], tmp_path: Path, session: run.Session
) -> None:
    report = _grade(_edit_cell(_reference_nb(name), function, edits), tmp_path / "right.ipynb", session)
    assert report.score == report.max_score, report.to_dict()
    assert _named(report) == {}


# ----------------------------------------------------------------------------- pure parts


def _case(name: str, **kw: Any) -> Case:
    return Case(name=name, inputs="x", hidden=False, atol=1e-9, **kw)


def test_recognise_prefers_the_mistake_matching_more_cases_then_the_first_listed() -> None:
    f = Function("f", (_case("a"), _case("b")))
    entries = {
        "a": {"output": 1.0, "mistakes": {"m1": 2.0, "m2": 2.0}},
        "b": {"output": 1.0, "mistakes": {"m1": 5.0, "m2": 3.0}},
    }
    failed = {"a": False, "b": False}
    assert mistakes.recognise(f, failed, {"a": 2.0, "b": 3.0}, entries, ["m1", "m2"]) == {
        "a": "m2",
        "b": "m2",
    }
    assert mistakes.recognise(f, failed, {"a": 2.0, "b": 9.0}, entries, ["m1", "m2"]) == {"a": "m1"}
    assert mistakes.recognise(f, failed, {"a": 2.0, "b": 9.0}, entries, ["m2", "m1"]) == {"a": "m2"}


def test_recognise_rules_out_a_mistake_the_student_does_not_make_elsewhere() -> None:
    f = Function("f", (_case("a"), _case("b")))
    entries = {"a": {"output": 1.0, "mistakes": {"m1": 2.0}}, "b": {"output": 1.0, "mistakes": {"m1": 5.0}}}
    assert mistakes.recognise(f, {"a": False, "b": True}, {"a": 2.0, "b": 1.0}, entries, ["m1"]) == {}


def test_below_cases_match_mutants_within_a_relative_tolerance() -> None:
    c = Case(name="c", inputs="x", below=1e-7)
    assert mistakes.same_output(5.0e-7, 5.0001e-7, c)
    assert not mistakes.same_output(5.0e-7, 6.0e-7, c)


def test_recorded_mutant_outputs_fail_their_case_and_words_are_complete() -> None:
    for a in ASSIGNMENTS:
        doc = expected_mod.load(a)
        assert spec.mismatches(a, doc) == [], f"{a.name}: run `grader expected {a.name}`"
        ids = {m.id for m in mistakes.load(a)}
        words = doc.get("mistakes", {})
        assert {mid for f in words.values() for mid in f} == ids, f"{a.name}: run `grader expected`"
        for f in a.functions:
            for c in f.cases:
                entry = doc["functions"][f.name][c.name]  # there: no mismatch
                for mid, out in entry.get("mistakes", {}).items():
                    assert not judge(codec.decode(entry["output"]), codec.decode(out), c).passed, mid


def _catalogue(tmp_path: Path, text: str) -> spec.Assignment:
    from dataclasses import replace

    a = replace(spec.load("initialization"), reference_folder=tmp_path)
    (tmp_path / mistakes.CATALOGUE).write_text(text, encoding="utf-8")
    return a


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[mistakes]]\nfunction = "nope"\nid = "x"\ndescription = "d"\nhint = "h"\nsource = "def f(): pass"\n',
         "no graded function"),
        ('[[mistakes]]\nfunction = "initialize_parameters_he"\nid = "Bad Id"\ndescription = "d"\nhint = "h"\n'
         'source = "def f(): pass"\n', "ids are unique"),
        ('[[mistakes]]\nfunction = "initialize_parameters_he"\nid = "x"\ndescription = "d"\nhint = "h"\n',
         "exactly one of"),
        ('[[mistakes]]\nfunction = "initialize_parameters_he"\nid = "x"\nhint = "h"\nreplace = [["a", "b"]]\n',
         "description and a hint"),
    ],
)  # fmt: skip
def test_catalogue_errors_are_reported(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(SpecError, match=error):
        mistakes.load(_catalogue(tmp_path, text))


def test_an_edit_that_does_not_apply_is_reported() -> None:
    m = mistakes.Mistake("f", "x", "d", "h", replace=(("not there", "y"),))
    with pytest.raises(SpecError, match="does not occur"):
        mistakes.mutant_source(m, "def f():\n    return 1")
