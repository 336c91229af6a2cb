"""What the class got wrong: a class of 200 hand-ins with known mistakes (tests/classkit.py),
graded as an instructor would (`grader run CLASS --fast --jobs 2 --format html --output OUT`);
summary.json names the catalogued mistakes with their counts, the clusters of identical wrong
outputs the catalogue does not explain (with one answer's code) and the identical answers, and the
index page shows them, in Chromium too."""

from __future__ import annotations

import html as htmlmod
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from grader.judging.digest import output_digest
from grader.reading import assignment as spec
from grader.reports import formats, html, plots, summary, text, wrong
from grader.results import from_dict
from tests import classkit
from tests.test_formats import CHROMIUM, screenshot

GRADER = str(Path(sys.executable).parent / "grader")
CATALOGUED_TINT = tuple(int(plots.CATALOGUED[i : i + 2], 16) for i in (1, 3, 5))  # the plot's bars
UNEXPLAINED_TINT = tuple(int(plots.UNEXPLAINED[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("class")
    students = classkit.build(work / "class")
    out = work / "out"
    res = subprocess.run(
        [GRADER, "run", str(work / "class"), "--fast", "--jobs", "2", "--format", "html", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return {
        "students": students,
        "out": out,
        "summary": json.loads((out / "summary.json").read_text(encoding="utf-8")),
        "stdout": res.stdout,
    }


def _labels(students: list[classkit.Student], *kinds: str) -> list[str]:
    """The class view names students by the hand-ins' ids: a plain folder's student folders."""
    return [s.name for s in students if s.kind in kinds]


def test_the_pass_rates_and_the_named_mistakes_with_their_counts(graded_class: dict[str, Any]) -> None:
    s, students = graded_class["summary"], graded_class["students"]
    assert (s["submissions"], s["graded"], s["invalid"], s["errors"]) == (200, 200, 0, 0)
    kinds = Counter(st.kind for st in students)
    assert sum(kinds.values()) == 200
    functions = {f["name"]: f for f in s["functions"]}
    wrong = {  # every student whose answer to the function is not right
        classkit.ZEROS: ["mistake:zeros-shape-order", "mistake:zeros-bias-1d", "bug:ones-bias", "blank"],
        classkit.RANDOM: ["mistake:random-not-scaled", "mistake:random-uniform", "bug:small-weights", "blank"],
        classkit.HE: [
            "mistake:he-sqrt-1-over-n",
            "mistake:he-fan-out",
            "bug:uniform-he",
            "bug:uniform-he-again",
            "bug:once",
            "blank",
        ],
    }
    for name, bad in wrong.items():
        assert (functions[name]["passed"], functions[name]["total"]) == (200 - sum(kinds[k] for k in bad), 200)
    named = {name: [(m["id"], m["students"]) for m in f["mistakes"]] for name, f in functions.items()}
    assert named == {
        classkit.ZEROS: [("zeros-shape-order", 12), ("zeros-bias-1d", 8)],
        classkit.RANDOM: [("random-not-scaled", 15), ("random-uniform", 6)],
        classkit.HE: [("he-sqrt-1-over-n", 10), ("he-fan-out", 7)],
    }


def test_the_bugs_no_catalogue_knows_form_clusters_with_one_answers_code(graded_class: dict[str, Any]) -> None:
    s, students = graded_class["summary"], graded_class["students"]
    a = spec.load(classkit.ASSIGNMENT)
    cases = {f.name: [c.name for c in f.cases] for f in a.functions}
    expected = [  # largest first; the bug written two ways is one cluster (the same values)
        (classkit.HE, _labels(students, "bug:uniform-he", "bug:uniform-he-again")),
        (classkit.RANDOM, _labels(students, "bug:small-weights")),
        (classkit.ZEROS, _labels(students, "bug:ones-bias")),
    ]
    assert [(c["function"], c["students"]) for c in s["clusters"]] == expected
    by_label = {st.name: st for st in students}
    for c in s["clusters"]:
        assert c["size"] == len(c["students"]) and c["representative"] == c["students"][0]
        assert c["cases"] == cases[c["function"]]  # each bug is wrong on every case
        assert c["code"] == by_label[c["representative"]].code  # the answer as handed in
    # a bug made once is nobody's cluster; the summary's text says the same as its JSON
    assert not any(_labels(students, "bug:once")[0] in c["students"] for c in s["clusters"])
    txt = graded_class["stdout"]
    assert f"{classkit.HE} on {', '.join(cases[classkit.HE])}: 14 students" in txt
    assert "      | " + by_label[s["clusters"][0]["representative"]].code.splitlines()[-1] in txt


def test_identical_answers_are_listed_and_nothing_else(graded_class: dict[str, Any]) -> None:
    s, students = graded_class["summary"], graded_class["students"]
    # the same code, docstrings and comments aside: the catalogue's mutants (every student who made
    # the mistake wrote the same line), each way of writing our bugs, the copied answer of its own
    # form; never the reference's code (restyled or not), the blank template, a bug made once
    groups = [k for k in classkit.CLASS if k.startswith(("mistake:", "bug:")) and k != "bug:once"]
    expected = {frozenset(_labels(students, k)) for k in [*groups, "own-form"]}
    assert {frozenset(g["students"]) for g in s["alike"]} == expected
    # never penalised: the copied answer is right and earns full marks
    out = graded_class["out"]
    for st in students:
        if st.kind != "own-form":
            continue
        report = json.loads((out / f"{st.name}__{st.path.stem}.json").read_text(encoding="utf-8"))
        assert report["score"] == report["max_score"]


def test_digests_stay_with_the_instructor(graded_class: dict[str, Any], tmp_path: Path) -> None:
    out, students = graded_class["out"], graded_class["students"]
    st = next(st for st in students if st.kind == "bug:ones-bias")
    data = json.loads((out / f"{st.name}__{st.path.stem}.json").read_text(encoding="utf-8"))
    digests = [t["output_digest"] for f in data["functions"] for t in f["tests"] if "output_digest" in t]
    answers = [f["answer_digest"] for f in data["functions"] if "answer_digest" in f]
    assert digests and answers
    report = from_dict(data)
    written = formats.write_gradescope([report], tmp_path)
    student_facing = [html.page(report), text.to_text(report), *(p.read_text(encoding="utf-8") for p in written)]
    for rendered in student_facing:
        assert not any(d in rendered for d in [*digests, *answers])
        assert "output_digest" not in rendered and "answer_digest" not in rendered


def test_the_index_page_shows_counts_clusters_and_code(graded_class: dict[str, Any]) -> None:
    page = (graded_class["out"] / "index.html").read_text(encoding="utf-8")
    s = graded_class["summary"]
    for f in s["functions"]:
        for m in f["mistakes"]:
            assert f'<span class="count">{m["students"]}</span> <span class="mono">{m["id"]}</span>' in page
    for c in s["clusters"]:
        assert f'<span class="count">{c["size"]}</span> students' in page
        assert f"<pre class=\"code\">{escape(c['code'])}</pre>" in page  # escaped, as it is
    # real images: the overview and the mistakes plot, PNG inline
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    # one script, allowed by its hash alone
    assert page.count("<script>") == 1 and f"'sha256-{html.SORT_SCRIPT_HASH}'" in page
    # readable without the script: rows in input order, every submission linked
    links = re.findall(r'<td><a href="([^"]+)">', page)
    assert links == html.page_names([from_dict(r) for r in _reports(graded_class)])


def _reports(graded_class: dict[str, Any]) -> list[dict[str, Any]]:
    out = graded_class["out"]
    return [
        json.loads((out / f"{st.name}__{st.path.stem}.json").read_text(encoding="utf-8"))
        for st in graded_class["students"]
    ]


def test_a_cluster_of_hostile_code_is_shown_as_text() -> None:
    code = 'def f():\n    return "</pre><script>alert(1)</script><img src=x onerror=alert(2)>"'
    s = summary.Summary(
        2, 2, 0, 0, (0.0, 0.0), (), (), clusters=(wrong.Cluster("a", "f", ("c",), ("x", "y"), code),)
    )
    reports = [from_dict({"submission": n, "assignment": "a", "status": "graded", "message": ""}) for n in "xy"]
    page = html.index(reports, ["x.html", "y.html"], s)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert escape(code) in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_the_index_page_in_chromium(graded_class: dict[str, Any], tmp_path: Path) -> None:
    index = graded_class["out"] / "index.html"
    pixels = screenshot(index, tmp_path / "index.png", height=2600)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100, "the page looks blank"
    assert (pixels.min(axis=2) < 200).mean() > 0.02, "almost nothing is drawn on the page"
    for tint, what in ((CATALOGUED_TINT, "catalogued mistakes"), (UNEXPLAINED_TINT, "unexplained clusters")):
        bars = np.all(np.abs(pixels.astype(int) - tint) < 12, axis=2)
        assert bars.sum() > 2000, f"the plot's bars for {what} are not on the page"
    # the DOM Chromium built: the counts, the cluster and its code; sorted by the page's script
    dom = _dom(f"{index.resolve().as_uri()}#sort=-score", tmp_path)
    s = graded_class["summary"]
    for f in s["functions"]:
        for m in f["mistakes"]:
            assert f'<span class="count">{m["students"]}</span> <span class="mono">{m["id"]}</span>' in dom
    biggest = s["clusters"][0]
    assert f'<span class="count">{biggest["size"]}</span> students' in dom
    assert all(htmlmod.escape(line, quote=False) in dom for line in biggest["code"].splitlines())
    scores = [float(x) for x in re.findall(r'<td class="num" data-sort="([-0-9.]+)">', dom)]
    assert len(scores) == 200 and scores == sorted(scores, reverse=True) and scores[0] == 100.0


def _dom(url: str, tmp_path: Path) -> str:
    assert CHROMIUM is not None
    res = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'dom-profile'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return res.stdout


def test_output_digest_is_of_values_up_to_rounding() -> None:
    a = np.linspace(-3, 3, 12).reshape(3, 4)
    nudged = a * (1 + 1e-13)
    assert output_digest({"W1": a, "b1": np.zeros((3, 1))}) == output_digest({"b1": np.zeros((3, 1)), "W1": nudged})
    assert output_digest(np.arange(4)) == output_digest(np.arange(4.0))
    assert output_digest(np.array([0.0, np.nan])) == output_digest(np.array([-0.0, -np.nan]))
    assert output_digest(a) != output_digest(a * (1 + 1e-5))  # a different wrong value
    assert output_digest(a) != output_digest(a.reshape(4, 3)) != output_digest(a.ravel())
    assert output_digest([1.0, 2.0]) != output_digest((1.0, 2.0)) != output_digest({"0": 1.0, "1": 2.0})
    assert output_digest("1.0") != output_digest(1.0) and output_digest(None) != output_digest(False)
