"""Batch grading: the cache (identical answers once, different answers never confused), report
names, the JSON contract of `grader run` on many notebooks, the summary, and isolation."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course import batch
from grader.grading import grade
from grader.judging import prepared
from grader.reports import summary
from grader.sandbox import cache as cache_mod
from grader.sandbox import isolation
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import Task, task_for
from tests.batchkit import toy, write

OPTIONS = grade.Options()


def _plan(**kw: object) -> batch.Plan:
    return batch.Plan(**{"jobs": 2, "fast": True, **kw})  # type: ignore[arg-type]


def _brief(report: dict) -> list[tuple]:
    return [(f["name"], f["score"], f["status"], f["message"]) for f in report["functions"]]


def test_identical_answers_run_once(toy_root: Path, tmp_path: Path) -> None:
    # different bytes (so different submissions), the same code for both graded functions
    paths = [write(tmp_path / "class", f"s{i}", toy(note=str(i))) for i in range(6)]
    out = batch.run_batch(paths, OPTIONS, _plan())
    # one task per stage (visible cases, hidden cases) of each graded function, for the whole class
    assert out.graded == 6 and out.tasks_sent == 4
    assert out.cache_misses == 4 and out.cache_hits == 20
    assert {r["score"] for r in out.reports} == {5.0}
    assert [r["submission"] for r in out.reports] == [str(p) for p in paths]


def test_answers_differing_in_a_constant_never_share_results(toy_root: Path, tmp_path: Path) -> None:
    variants = {
        "right": toy(),
        "literal": toy(scale="out = v * 3.0"),  # same output, other code: its own run
        "off": toy(scale="out = v * 3.5"),
        "tiny": toy(scale="out = v * 3.0000001"),
        "unit": toy(unit="u = v / n / 1.01"),
    }
    paths = [write(tmp_path / "c", f"{k}{i}", variants[k]) for i in range(3) for k in variants]
    for i, p in enumerate(paths):  # make every file's bytes unique
        p.write_text(p.read_text().replace("# Toy ", f"# Toy {i} "))
    out = batch.run_batch(paths, OPTIONS, _plan(jobs=2))
    assert out.tasks_sent == 2 * (4 + 1 + 1)  # scale: 4 codes, unit: 2 codes, each run once per stage
    for p, r in zip(paths, out.reports, strict=True):
        alone = grade.grade_path(p, OPTIONS).to_dict()
        assert _brief(r) == _brief(alone), p.name
    scores = {p.stem[:-1]: r["score"] for p, r in zip(paths, out.reports, strict=True)}
    assert scores == {"right": 5.0, "literal": 5.0, "off": 2.0, "tiny": 2.0, "unit": 3.0}


def test_cache_keys_differ_for_one_character(toy_root: Path) -> None:
    from grader.reading import notebook, selection

    prep = prepared.prepare("toy")

    def task(body: str) -> Task:
        parsed = notebook.parse(notebook.loads(json.dumps(toy(scale=body)).encode()))
        ans = selection.answer(parsed, "scale", exclude=frozenset({"unit", "norm2"}))
        return task_for(ans, prep.given, [{"name": "c", "args": [], "setup": ""}], 10.0)

    limits = Limits()
    a, b, c = task("out = v * 3.0"), task("out = v * 3.00"), task("out = v * 3.0")
    assert cache_mod.key("toy", a, limits) != cache_mod.key("toy", b, limits)
    assert cache_mod.key("toy", a, limits) == cache_mod.key("toy", c, limits)
    assert cache_mod.key("toy", a, limits) != cache_mod.key("other", a, limits)
    assert cache_mod.key("toy", a, limits) != cache_mod.key("toy", a, Limits(memory_mb=512))


def test_a_dead_worker_is_never_cached() -> None:
    cache = cache_mod.Cache()
    assert cache.claim("k") is None
    cache.settle("k", {"function": "f", "worker_died": True})
    assert cache.claim("k") is None  # not stored: the next submission runs it again
    cache.settle("k", {"function": "f", "cases": {}})
    assert cache.claim("k") == {"function": "f", "cases": {}}


def test_the_cache_is_bounded_in_bytes() -> None:
    """Least recently used results go to make room; one too big for the bound is never kept."""

    def result(n: int) -> dict[str, object]:
        return {"function": "f", "cases": {"c": {"ok": True, "output": "x" * n}}}

    cache = cache_mod.Cache(max_bytes=4000, max_item=1500)
    for k in "abc":
        assert cache.claim(k) is None
        cache.settle(k, result(1100))
    assert len(cache) == 3 and cache.held <= 4000
    assert isinstance(cache.claim("a"), dict)  # "a" is now the most recently used
    assert cache.claim("d") is None
    cache.settle("d", result(1100))  # no room for four: "b", the least recently used, goes
    assert len(cache) == 3 and cache.held <= 4000 and cache.dropped == 1
    assert cache.claim("b") is None
    cache.settle("b", result(2000))  # more than max_item: run, never stored
    assert cache.claim("b") is None and len(cache) == 3 and cache.dropped == 2
    cache.settle("b", None)
    assert all(isinstance(cache.claim(k), dict) for k in "acd")
    assert cache_mod.Cache().max_bytes == cache_mod.MAX_BYTES


def test_report_names_stay_unique() -> None:
    paths = [
        Path("/c/alice/Work.ipynb"),
        Path("/c/bob/Work.ipynb"),
        Path("/c/Other.ipynb"),
        Path("/c/Other.ipynb"),
    ]
    assert batch.unique_names(paths) == ["alice__Work", "bob__Work", "Other", "Other-2"]


def test_cli_batch_keeps_the_json_contract(toy_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "class"
    write(folder / "ann", "Toy", toy())
    write(folder / "ben", "Toy", toy(scale="out = v"))
    (folder / "broken.ipynb").write_text("{not json")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(folder), "--fast", "--format", "json", "--output", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert isinstance(data, list) and [d["score"] for d in data] == [5.0, 2.0, 0.0]
    assert data[2]["status"] == "invalid"
    files = sorted(p.name for p in out.iterdir())
    assert {"ann__Toy.json", "ben__Toy.json", "broken.json", "gradebook.sqlite", "summary.txt"} <= set(files)
    assert json.loads((out / "ben__Toy.json").read_text())["score"] == 2.0
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    one = CliRunner().invoke(
        main, ["run", str(folder / "ann" / "Toy.ipynb"), "--fast", "--format", "json", "-j", "1"]
    )
    assert one.exit_code == 0 and json.loads(one.stdout)["score"] == 5.0  # one PATH: one object


def test_summary_counts_and_failures(toy_root: Path, tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "a", toy()),
        write(tmp_path, "b", toy(scale="out = v")),
        write(tmp_path, "c", toy(unit="u = v")),
    ]
    reports = batch.run_batch(paths, OPTIONS, _plan()).reports
    s = summary.summarise(reports)
    assert (s.submissions, s.graded, s.invalid) == (3, 3, 0)
    assert {f.name: (f.passed, f.total) for f in s.functions} == {"scale": (2, 3), "unit": (2, 3)}
    assert summary.histogram(s.percents)[-1] == 1
    text = summary.to_text(s)
    assert "pass rate per function" in text and "scale" in text and "66.7%" in text
    assert [n for _, n in s.failures] == [1, 1]


@pytest.mark.skipif(not isolation.available_isolation().mounts, reason="needs a mount namespace")
def test_a_submission_cannot_read_another(toy_root: Path) -> None:
    # world-readable on purpose: only the batch's hiding of submission folders protects the victim
    with tempfile.TemporaryDirectory() as tmp:
        room = Path(tmp)
        room.chmod(0o755)
        victim = write(room / "class" / "victim", "Toy", toy())
        peek = f"out = v * FACTOR if open({str(victim)!r}).read() else None"
        thief = write(room / "class" / "thief", "Toy", toy(scale=peek))
        for p in (room / "class", victim.parent, thief.parent):
            p.chmod(0o755)
        victim.chmod(0o644)
        reports = batch.run_batch([victim, thief], OPTIONS, _plan(output=room / "out")).reports
    assert reports[0]["score"] == 5.0
    scale = reports[1]["functions"][0]
    assert scale["score"] == 0 and "FileNotFoundError" in scale["message"], scale


def test_cache_keys_follow_the_released_files(toy_root: Path, tmp_path: Path) -> None:
    import shutil

    from grader.reading import assignment as spec

    root = tmp_path / "root"
    shutil.copytree(toy_root, root)
    a = spec.load("toy", root=root)
    t = Task("scale", (), ({"name": "c", "args": [], "setup": ""},), 10.0)
    before = cache_mod.key(a, t, Limits())
    helper = a.folder / "toyutils.py"
    helper.write_text(helper.read_text().replace("3.0", "4.0"))
    assert cache_mod.key(a, t, Limits()) != before  # a fixed helper never serves stale results


def test_a_very_long_file_name_is_graded_in_full_mode(toy_root: Path, tmp_path: Path) -> None:
    """Red team 2, finding 10: a 250-character notebook name made writing the executed notebook
    fail (ENAMETOOLONG): an internal error, exit 3, every rerun the same. Every file written for
    a submission is named by `files.file_names`, bounded to MAX_NAME characters, single or batch."""
    from grader.files import MAX_NAME

    folder = tmp_path / "class"
    long = write(folder, "L" * 244, toy())  # 250 characters with ".ipynb"
    write(folder, "ok", toy())
    assert len(long.name) == 250
    for args in ([str(folder)], [str(long)]):
        out = tmp_path / f"out{len(args[0])}"
        res = CliRunner().invoke(main, ["run", *args, "--format", "json", "--output", str(out), "-j", "1"])
        assert res.exit_code == 0, res.output
        data = json.loads(res.stdout)
        reports = data if isinstance(data, list) else [data]
        assert all(r["status"] == "graded" and r["score"] == 5.0 for r in reports), reports
        written = sorted(p.name for p in out.iterdir() if p.name.startswith("L"))
        assert len(written) == 2, written  # its report and its executed notebook
        assert all(len(n.split(".")[0]) <= MAX_NAME for n in written), written
        [executed] = [n for n in written if n.endswith(".executed.ipynb")]
        assert json.loads((out / executed).read_text())["cells"]


def test_line_breaks_in_names_and_messages_never_add_lines(toy_root: Path, tmp_path: Path) -> None:
    """Red team 2, finding 11: a notebook named `nl\\nname.ipynb` or an error message holding line
    breaks wrote lines of its own into stdout and summary.txt, a forged `batch: ... mean 100.0%`
    among them. Text output writes them as `\\n`; JSON keeps them (escaped there)."""
    folder = tmp_path / "class"
    forged = "batch: 9 submissions, 9 graded, 0 invalid, 0 internal errors; mean 100.0%"
    write(folder, "nl\nname", toy())
    write(folder, "spoof", toy(scale=f"raise RuntimeError('wrong\\n\\n{forged}\\r\\n  total: 34/34 (100.0%)')"))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(folder), "--fast", "--output", str(out), "-j", "1"])
    assert res.exit_code == 0, res.output
    for text in (res.stdout, (out / "summary.txt").read_text()):
        lines = text.splitlines()
        assert [ln for ln in lines if ln.startswith("batch:")] == [next(ln for ln in lines if ln.startswith("batch:"))]
        assert not any(ln.strip().startswith(("name", "total: 34/34")) for ln in lines), text
        assert forged not in lines and "wrong\\n\\nbatch: 9 submissions" in text, text
    assert "nl\\nname" in res.stdout
    one = CliRunner().invoke(main, ["run", str(folder / "nl\nname.ipynb"), "--fast", "--format", "json"])
    assert json.loads(one.stdout)["submission"].endswith("nl\nname.ipynb")


def test_a_hard_link_to_a_grader_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Red team 2, finding 12: a hard link to the reference notebook was graded (full marks, not
    flagged). A submission that is the same file (st_dev, st_ino) as one under reference/,
    assignments/ or expected/ is invalid with the reason; hard links between submissions are
    listed with the possible copies."""
    import shutil

    from tests.conftest import TOY

    root = tmp_path / "root"
    shutil.copytree(TOY, root)
    monkeypatch.setenv("GRADER_ROOT", str(root))
    prepared.prepare.cache_clear()
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "hardref.ipynb").hardlink_to(root / "reference" / "toy" / "Toy.ipynb")
    ann = write(folder, "ann", toy())
    (folder / "ann_too.ipynb").hardlink_to(ann)
    try:
        out = tmp_path / "out"
        res = CliRunner().invoke(main, ["run", str(folder), "--fast", "--format", "json", "--output", str(out)])
        assert res.exit_code == 0, res.output
        by_name = {Path(d["submission"]).name: d for d in json.loads(res.stdout)}
        ref = by_name["hardref.ipynb"]
        assert ref["status"] == "invalid" and ref["score"] == 0, ref
        assert "same file as the grader's reference/toy/Toy.ipynb (a hard link)" in ref["message"]
        assert by_name["ann.ipynb"]["score"] == by_name["ann_too.ipynb"]["score"] == 5.0
        text = (out / "summary.txt").read_text()
        assert "possible copies" in text and "ann.ipynb = " in text and "ann_too.ipynb" in text, text
        one = CliRunner().invoke(main, ["run", str(folder / "hardref.ipynb"), "--fast", "--format", "json"])
        assert json.loads(one.stdout)["status"] == "invalid", one.output
    finally:
        prepared.prepare.cache_clear()
