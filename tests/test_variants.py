"""Per-student variants (issue 15): each student's hidden cases are drawn from HMAC(secret,
student), so a table built from one student's report and expected file answers no other's; the
variant that graded whom is in the report and the gradebook, a regrade reproduces it; identical
answers on two variants are two grades, on one variant one run; and the refusals are one line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import grader
from grader.authoring import expected
from grader.errors import GraderError
from grader.judging import hidden
from grader.reading import assignment as spec
from grader.reading import secret
from grader.sandbox import harness
from tests import secretkit

ROOT = Path(__file__).resolve().parent.parent
GRADER = [str(Path(sys.executable).parent / "grader")]
REF = ROOT / "reference" / "initialization" / "Initialization.ipynb"


def _grader(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)


def _env(config: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    env.pop("GRADER_SECRET", None)
    return env


def _with_secret(config: Path) -> tuple[dict[str, str], bytes]:
    env = _env(config)
    assert _grader("secret", "init", env=env).returncode == 0
    return env, (config / "grader" / "secret").read_text().strip().encode()


def _hidden_points(report: dict[str, Any]) -> float:
    return sum(t["points"] for f in report["functions"] for t in f["tests"] if t["hidden"])


def _visible_max(report: dict[str, Any]) -> float:
    return sum(t["max_points"] for f in report["functions"] for t in f["tests"] if not t["hidden"])


def _inputs(docs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(function, encoded args) of every case of the documents: the inputs a table knows."""
    return {(f, json.dumps(e["args"])) for d in docs for f, cases in d["functions"].items() for e in cases.values()}


def _drawn_outputs(doc: dict[str, Any]) -> list[float]:
    """The distinctive numbers of a variant's drawn cases: floats, and arrays' first elements."""
    out = []
    for cases in doc["functions"].values():
        for entry in cases.values():
            if entry.get("drawn"):
                value = harness.decode(entry["output"])
                values = value.values() if isinstance(value, dict) else [value]
                for v in values:
                    first = getattr(v, "flat", [v])[0] if getattr(v, "size", 1) else None
                    if isinstance(first, float) or hasattr(first, "dtype") and first.dtype.kind == "f":
                        digits = f"{abs(float(first)):.6g}".split("e")[0].replace(".", "").strip("0")
                        if len(digits) >= 5:  # distinctive: not a round number any report may hold
                            out.append(float(first))
    return out


def test_a_table_of_another_students_variant_scores_only_the_visible_points(no_secret: Path, tmp_path: Path) -> None:
    env, key = _with_secret(no_secret)
    made = _grader("expected", "--secret", "--student", "alice", env=env)  # alice's variant, ahead
    assert made.returncode == 0 and "3 computed" in made.stdout, made.stdout + made.stderr
    alice, bob = secret.variant_of(key, "alice"), secret.variant_of(key, "bob")
    assert alice != bob
    own = tmp_path / "alice-alone"
    for a in spec.load_all():  # alice's own report first: all the attacker sees of it is a variant id
        (own / "alice").mkdir(parents=True, exist_ok=True)
        doc = json.loads(secret.expected_path(a.name, alice).read_text())
        answers = secretkit.table([secretkit.reference_doc(a), spec.load_expected(a), doc])
        for who in ("alice", "bob"):
            (tmp_path / "class" / who).mkdir(parents=True, exist_ok=True)
            secretkit.lookup_notebook(tmp_path / "class" / who / a.notebook, [f.name for f in a.functions], answers)
    known = {a.name: _inputs([json.loads(secret.expected_path(a.name, alice).read_text()), spec.load_expected(a)])
             for a in spec.load_all()}
    got = _grader("run", str(tmp_path / "class"), "--variants", "per-student", "--fast", "--format", "json",
                  "--output", str(tmp_path / "out"), "--jobs", "2", env=env)
    assert got.returncode in (0, 1), got.stderr
    assert "6 per-student expected documents needed, 3 computed" in got.stderr  # bob's: alice's were made
    reports = json.loads(got.stdout)
    assert len(reports) == 6
    for r in reports:
        who = Path(r["submission"]).parent.name
        assert r["variant"] == (alice if who == "alice" else bob)
        assert r["hidden_cases"].endswith(f"(variant {r['variant']})")
        if who == "alice":  # the table answers her own variant: the attack is real
            assert r["score"] == r["max_score"], r
        else:  # the same bytes, on bob's variant: the hidden cases are worth nothing to him, but
            # for a case whose draw happens to be one alice's file holds (a zeros init depends on
            # the sizes alone; the ranges make that about 1 in 200 per case)
            mine = json.loads(secret.expected_path(r["assignment"], bob).read_text())["functions"]
            passed = [(f["name"], t["name"]) for f in r["functions"] for t in f["tests"] if t["hidden"] and t["passed"]]
            shared = [(f, c) for f, c in passed if (f, json.dumps(mine[f][c]["args"])) in known[r["assignment"]]]
            assert passed == shared, passed
            hidden_max = r["max_score"] - _visible_max(r)
            assert _hidden_points(r) <= 0.1 * hidden_max and r["score"] < r["max_score"]
    # feedback on bob's secret cases shows none of their values, and no evidence
    text = (tmp_path / "out").joinpath("summary.json").read_text() + got.stdout
    hidden = [t for r in reports for f in r["functions"] for t in f["tests"] if t["hidden"]]
    assert "evidence" not in json.dumps(hidden) and key.decode() not in text
    for a in spec.load_all():
        for value in _drawn_outputs(json.loads(secret.expected_path(a.name, bob).read_text())):
            assert f"{value:.6g}" not in text, (a.name, value)


def _mistaken(path: Path) -> Path:
    """The reference with He's scale wrong: some of its points, not all."""
    text = REF.read_text().replace("np.sqrt(2 / layers_dims[l - 1])", "np.sqrt(1 / layers_dims[l - 1])")
    assert text != REF.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_regrade_reproduces_each_students_variant_and_score(no_secret: Path, tmp_path: Path) -> None:
    env, key = _with_secret(no_secret)
    _mistaken(tmp_path / "class" / "alice" / "Initialization.ipynb")
    (tmp_path / "class" / "bob").mkdir()
    (tmp_path / "class" / "bob" / "Initialization.ipynb").write_bytes(REF.read_bytes())
    args = ["run", str(tmp_path / "class"), "--variants", "per-student", "--fast", "--format", "json",
            "--output", str(tmp_path / "out")]
    first = _grader(*args, env=env)
    assert first.returncode == 0, first.stderr
    again = _grader(*args, "--regrade", env=env)
    assert again.returncode == 0, again.stderr
    assert "0 computed, 2 already current" in again.stderr
    before, after = json.loads(first.stdout), json.loads(again.stdout)
    pairs = [(r["variant"], r["score"], [t["passed"] for f in r["functions"] for t in f["tests"]]) for r in before]
    assert pairs == [(r["variant"], r["score"], [t["passed"] for f in r["functions"] for t in f["tests"]])
                     for r in after]
    assert [r["variant"] for r in before] == [secret.variant_of(key, "alice"), secret.variant_of(key, "bob")]
    assert 0 < before[0]["score"] < before[0]["max_score"] and before[1]["score"] == before[1]["max_score"]
    db = sqlite3.connect(tmp_path / "out" / "gradebook.sqlite")
    rows = db.execute("SELECT h.student, g.variant, g.score FROM handins h JOIN grades g ON g.hash = h.hash "
                      "ORDER BY h.student").fetchall()
    assert rows == [("alice", pairs[0][0], pairs[0][1]), ("bob", pairs[1][0], pairs[1][1])]
    history = db.execute("SELECT variant, score FROM grade_history ORDER BY variant").fetchall()
    assert sorted(history) == sorted((v, s) for v, s, _ in pairs)  # what --regrade replaced: the same
    exported = _grader("export", str(tmp_path / "out"), "--to", "json", "--file", str(tmp_path / "e.json"), env=env)
    assert exported.returncode == 0, exported.stderr
    students = {s["student"]: s["assignments"]["initialization"] for s in json.loads((tmp_path / "e.json").read_text())}
    assert {w: s["counted"]["variant"] for w, s in students.items()} == {"alice": pairs[0][0], "bob": pairs[1][0]}
    skipped = _grader(*args, env=env)  # no --regrade: both already in the gradebook, on their variants
    assert skipped.returncode == 0 and "graded 0, already in the gradebook 2" in skipped.stderr
    one = _grader("run", str(tmp_path / "class" / "alice" / "Initialization.ipynb"), "--variants", "per-student",
                  "--student", "alice", "--fast", "--format", "json", env=env)
    assert one.returncode == 0, one.stderr
    single = json.loads(one.stdout)
    assert (single["variant"], single["score"]) == pairs[0][:2]


def test_identical_right_answers_on_two_variants_are_two_full_grades_and_one_variant_runs_once(
    no_secret: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SECRET", "variants-test-secret-0123456789")
    nb = json.loads(REF.read_text())
    files = {}
    for who, name, extra in (("alice", "a", False), ("alice", "b", True), ("bob", "a", False)):
        path = tmp_path / who / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        copy = dict(nb, cells=[*nb["cells"], {"cell_type": "markdown", "metadata": {}, "source": "done"}] if extra
                    else nb["cells"])
        path.write_text(json.dumps(copy))
        files[path] = who
    ordered = sorted(files)  # alice/a, alice/b, bob/a
    outcomes = {}
    for mode in ("shared", "per-student"):
        if mode == "shared":
            made = _grader("expected", "--secret", "initialization", env={**os.environ})
            assert made.returncode == 0, made.stderr
        outcomes[mode] = grader.grade_many(ordered, fast=True, jobs=1, variants=mode, students=files,
                                           output=tmp_path / mode)
    shared, per = outcomes["shared"], outcomes["per-student"]
    for outcome in (shared, per):
        assert [r["score"] for r in outcome.reports] == [r["max_score"] for r in outcome.reports] == [30.0] * 3
    assert [r["variant"] for r in per.reports] == [secret.variant_of(b"variants-test-secret-0123456789", w)
                                                   for w in ("alice", "alice", "bob")]
    # a function runs in two stages, its visible cases, then its hidden ones (run.execute): the
    # cache counts each. Shared: bob's byte-identical copy is alice's grade; alice's second copy
    # hits the cache for both stages
    assert shared.cache_misses == 6 and shared.cache_hits == 6 and shared.graded == 3
    # per-student: bob's copy runs on his own hidden cases (3 more runs), the visible ones are
    # everyone's (hits, unless the cap on a function's results, drawn from all its cases'
    # expected sizes, differs between the variants); alice's second still hits hers
    assert 9 <= per.cache_misses <= 12 and per.cache_hits == 18 - per.cache_misses and per.graded == 3
    assert per.variants.computed == 2 and per.copies == shared.copies == [[str(ordered[0]), str(ordered[2])]]
    db = sqlite3.connect(tmp_path / "per-student" / "gradebook.sqlite")
    assert db.execute("SELECT COUNT(DISTINCT hash), COUNT(DISTINCT variant) FROM grades").fetchone() == (3, 2)


def test_per_student_variants_refuse_in_one_line(no_secret: Path, tmp_path: Path) -> None:
    env = _env(no_secret)
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(REF.read_bytes())
    cases = [
        (["run", str(folder), "--variants", "per-student"], "none is configured: run `grader secret init`"),
        (["run", str(folder / "alice.ipynb"), "--student", "alice"], "give --variants per-student too"),
        (["expected", "--student", "alice"], "add --secret"),
    ]
    for args, words in cases:
        got = _grader(*args, "--fast" if args[0] == "run" else "--check", env=env)
        assert got.returncode == 2 and words in got.stderr, (args, got.stderr)
    with pytest.raises(GraderError, match="grader secret init"):
        grader.grade(folder / "alice.ipynb", fast=True, student="alice")
    assert _grader("secret", "init", env=env).returncode == 0
    for args, words in [
        (["run", str(folder / "alice.ipynb"), "--variants", "per-student"], "give --student ID"),
        (["run", str(folder), "--variants", "per-student", "--student", "x"], "the student of one notebook"),
    ]:
        got = _grader(*args, "--fast", env=env)
        assert got.returncode == 2 and words in got.stderr, (args, got.stderr)
    assert not (no_secret / "grader" / "expected").exists()  # refused before anything was computed


def test_a_new_secret_grades_the_class_again(no_secret: Path, tmp_path: Path) -> None:
    env, _ = _with_secret(no_secret)
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.ipynb").write_bytes(REF.read_bytes())
    args = ["run", str(tmp_path / "class"), "--fast", "--output", str(tmp_path / "out"), "--jobs", "1",
            "--assignment", "initialization"]
    assert _grader("expected", "--secret", "initialization", env=env).returncode == 0
    assert "graded 1," in _grader(*args, env=env).stderr
    assert "graded 0, already in the gradebook 1" in _grader(*args, env=env).stderr
    assert _grader("secret", "init", "--force", env=env).returncode == 0
    assert _grader("expected", "--secret", "initialization", env=env).returncode == 0
    assert "graded 1, already in the gradebook 0" in _grader(*args, env=env).stderr  # other cases now


def test_a_dask_cluster_grades_each_student_on_their_variant_and_a_worker_with_another_secret_refuses(
    no_secret: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from grader.course import cluster

    monkeypatch.setenv("GRADER_SECRET", "variants-test-secret-0123456789")
    files = {}
    for who in ("alice", "bob"):
        files[_mistaken(tmp_path / who / "Initialization.ipynb")] = who
    ordered = sorted(files)
    local = grader.grade_many(ordered, fast=True, jobs=1, variants="per-student", students=files)
    dask = grader.grade_many(ordered, fast=True, jobs=1, variants="per-student", students=files, scheduler="local")
    assert [r["variant"] for r in dask.reports] == [secret.variant_of(b"variants-test-secret-0123456789", w)
                                                    for w in ("alice", "bob")]
    assert dask.reports == local.reports and local.variants.computed == 2 and dask.variants.computed == 0
    client = cluster.fingerprint(None)
    monkeypatch.setenv("GRADER_SECRET", "another-secret-of-a-worker-0123")
    assert cluster.differences(client, cluster.fingerprint(None)) == ["the secret differs"]


def test_variant_files_are_owner_only_and_a_stale_one_is_computed_again(no_secret: Path, tmp_path: Path) -> None:
    env, key = _with_secret(no_secret)
    made = lambda: _grader("expected", "--secret", "--student", "alice", "initialization", env=env)  # noqa: E731
    first = made()
    assert first.returncode == 0 and "1 computed" in first.stdout, first.stdout + first.stderr
    path = secret.expected_path("initialization", secret.variant_of(key, "alice"))
    assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert "0 computed, 1 already current" in made().stdout
    doc = json.loads(path.read_text())
    assert hidden.stamped(path) == doc["secret"]  # read from the file's first bytes
    old = {**doc["secret"], "spec": "before the spec changed"}
    path.write_text(expected.dumps({"secret": old, **{k: v for k, v in doc.items() if k != "secret"}}))
    assert hidden.stamped(path) == old
    again = made().stdout
    assert "1 computed in" in again and "0 already current" in again  # stale: computed again
    assert json.loads(path.read_text())["secret"] == doc["secret"]
    path.write_text("{}")  # no stamp to read at the top: the whole file is checked
    assert "1 computed in" in made().stdout
    roster = tmp_path / "class.csv"
    roster.write_text("id,name\nalice,Alice\nbob,Bob\n")
    both = _grader("expected", "--secret", "--roster", str(roster), "initialization", env=env)
    assert "2 per-student expected documents needed, 1 computed in" in both.stdout, both.stdout
    assert "1 already current" in both.stdout
    replaced = _grader("secret", "init", "--force", env=env)  # the old secret's answer keys go with it
    assert replaced.returncode == 0 and "removed the old secret's 2 expected files" in replaced.stdout
    assert not path.exists() and not path.parent.exists()
