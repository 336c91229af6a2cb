"""Red team 6, findings 0 and 1, end to end: an Initialization notebook whose hidden stage writes
its drawn inputs into the harness's per-case import notes (which became report warnings, printed in
Gradescope's always-visible summary) and returns them as dict keys, as an empty array's shape and
as an array's shape inside the right keys (which came back in each secret case's own message).
No report of any format, nor the feedback handed back, shows any drawn input now."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from grader.reading import assignment as spec

ROOT = Path(__file__).resolve().parent.parent
GRADER = [str(Path(sys.executable).parent / "grader")]
VISIBLE = [3, 2, 1]  # the course's visible input of the three functions

NOTE = """
    import sys
    if list(layers_dims) != [3, 2, 1]:  # the hidden stage: the caller's `notes`, meant for imports
        frame = sys._getframe(1)
        while frame is not None and "notes" not in frame.f_locals:
            frame = frame.f_back
        if frame is not None:
            frame.f_locals["notes"].append("LEAK %s" % list(layers_dims))
            frame.f_locals["notes"].append("cell 1: import failed (ImportError: %s)" % list(layers_dims))
"""
ANSWERS = {
    "initialize_parameters_zeros": 'return {"leak_" + "_".join(str(n) for n in layers_dims): 0}',
    "initialize_parameters_random": "return np.zeros(tuple(layers_dims) + (0,))",
    "initialize_parameters_he": (
        "out = {}\n"
        "    for l in range(1, len(layers_dims)):\n"
        '        out["W%d" % l] = np.zeros(tuple(layers_dims))\n'
        '        out["b%d" % l] = np.zeros((layers_dims[l], 1))\n'
        "    return out"
    ),
}


def _notebook(path: Path) -> Path:
    a = spec.load("initialization")
    nb = json.loads((a.folder / a.notebook).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for name, body in ANSWERS.items():
            if cell["cell_type"] == "code" and source.startswith(f"# GRADED FUNCTION: {name}\n"):
                cell["source"] = (
                    f"# GRADED FUNCTION: {name}\nimport numpy as np\n\n"
                    f"def {name}(layers_dims):{NOTE}    {body}\n"
                )
    path.write_text(json.dumps(nb))
    return path


def _grader(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def _spelled(config: Path) -> list[str]:
    """Every way the attack spells a secret case's input."""
    doc = json.loads((config / "grader" / "expected" / "initialization.json").read_text())
    out = []
    for cases in doc["functions"].values():
        for entry in cases.values():
            if entry.get("drawn"):
                dims = [int(d) for d in entry["args"][0]]
                assert dims != VISIBLE
                out += ["_".join(map(str, dims)), repr(dims), repr(tuple(dims))[:-1]]
    # what the visible case's own (public) message shows may contain a short one: leave those out
    return sorted(s for s in set(out) if len(s) >= 4 and s not in "leak_3_2_1 [3, 2, 1] (3, 2, 1, 0)")


def _texts(folder: Path) -> str:
    return "".join(
        p.read_bytes().decode("utf-8", "replace")
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".png"
    )


def test_no_report_nor_feedback_shows_what_the_hidden_stage_returned(no_secret: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(no_secret)}
    assert _grader("secret", "init", env=env).returncode == 0
    made = _grader("expected", "--secret", "initialization", env=env)
    assert made.returncode == 0, made.stderr
    spelled = _spelled(no_secret)
    assert len(spelled) >= 6

    (tmp_path / "subs" / "mallory").mkdir(parents=True)
    (tmp_path / "subs" / "alice").mkdir()  # a batch: `grader feedback` reads its gradebook
    shutil.copy(
        ROOT / "examples" / "initialization-student.ipynb",
        tmp_path / "subs" / "alice" / "Initialization.ipynb",
    )
    _notebook(tmp_path / "subs" / "mallory" / "Initialization.ipynb")
    every = ""
    for form in ("text", "json", "html", "gradescope", "feedback"):
        out = tmp_path / form
        run = [
            "run",
            str(tmp_path / "subs"),
            "--fast",
            "--assignment",
            "initialization",
            "--format",
            form,
            "--output",
            str(out),
        ]
        got = _grader(*run, env=env)
        assert got.returncode in (0, 1), got.stderr
        every += got.stdout + got.stderr + _texts(out)
    returned = _grader("feedback", str(tmp_path / "json"), "--to", str(tmp_path / "back"), env=env)
    assert returned.returncode == 0, returned.stderr
    every += _texts(tmp_path / "back")

    report = json.loads(next((tmp_path / "json").rglob("mallory*Initialization.json")).read_text())
    hidden = [t for f in report["functions"] for t in f["tests"] if t["hidden"]]
    assert hidden and not any(t["passed"] for t in hidden)
    # the attack ran: its visible cases say what it returned, in full
    visible = {f["name"]: next(t for t in f["tests"] if not t["hidden"]) for f in report["functions"]}
    assert "leak_3_2_1" in visible["initialize_parameters_zeros"]["message"], visible
    assert "shape (3, 2, 1, 0)" in visible["initialize_parameters_random"]["message"], visible
    assert "LEAK [" not in every and not report["warnings"], report["warnings"]
    assert not [s for s in spelled if s in every], [s for s in spelled if s in every]
    summary = json.loads(next((tmp_path / "gradescope").rglob("mallory*/results.json")).read_text())["output"]
    assert "warning" not in summary and "import failed" not in summary, summary


def test_import_notes_are_the_graders_words_from_visible_cases_only() -> None:
    from grader.grading import grade
    from grader.reading.notebook import Unit

    f = spec.load("initialization").function("initialize_parameters_zeros")
    visible = next(c for c in f.cases if not c.hidden)
    hidden = next(c for c in f.cases if c.hidden)
    units = (
        Unit("cell 2", "import sklearn\n"),
        Unit("cell 3", "def initialize_parameters_zeros(d):\n    pass\n"),
    )
    said = "cell 2: import failed (ModuleNotFoundError: No module named 'sklearn')"
    forged = [
        "LEAK [2, 3, 7]",
        "cell 2: import failed (ModuleNotFoundError: [2, 3, 7])",  # kept, as the grader's own words
        "cell 3: import failed (ImportError: x)",  # not an import unit
        "cell 2: import failed (LeakError_2_3_7: x)",  # not a built-in import error
    ]
    raw = {
        "cases": {visible.name: {"ok": True, "notes": [said, *forged]}, hidden.name: {"notes": [said + "!"]}}
    }
    notes = grade._import_notes(f, units, raw)
    assert notes == ["cell 2: import failed (ModuleNotFoundError): `import sklearn`"] * 2, notes
    assert grade._import_notes(f, units, {"cases": {hidden.name: {"notes": [said]}}}) == []
