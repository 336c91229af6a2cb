"""Red-team suite: cheating, hostile and broken submissions, graded through `grader run` as a user would.

For every scenario (tests/redteam_scenarios.py) and mode ("fast": functions only; "full": the
whole notebook with nbclient as well), the grader runs as a subprocess on a notebook in a fresh,
world-readable temporary folder that also holds canary files and a secret, with a made-up secret
in its environment. Each run must: exit 0 with exactly one JSON report on stdout, the same report
written under --output; give the attacked function 0 with a clear reason and every other function
full marks; leave the canaries and the secret untouched and unseen, and no process behind; and
stay within the scenario's time bound.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.grading import grade
from grader.reading import assignment as spec
from grader.sandbox import isolation
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import GRADED, ROOT, SCENARIOS, Scenario

GRADER = str(Path(sys.executable).parent / "grader")
CANARY = "canary: the grader's files must survive every submission\n"
CASES = {f.name: f for f in spec.load("initialization", root=ROOT).functions}
SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
RUNS = [
    pytest.param(
        s,
        mode,
        id=f"{s.id}-{mode}",
        marks=[pytest.mark.xfail(strict=True, reason=s.known_bug)] * bool(s.known_bug),
    )
    for s in SCENARIOS
    for mode in s.modes
]


@dataclass(frozen=True)
class Ctx:
    work: Path
    secret: str
    marker: str
    port: int

    def fill(self, text: str) -> str:
        for key, value in {
            "__WORK__": str(self.work),
            "__SECRET__": self.secret,
            "__MARKER__": self.marker,
            "__PORT__": str(self.port),
            "__ROOT__": str(ROOT),
        }.items():
            text = text.replace(key, value)
        return text


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A local TCP port nothing in a sandbox may reach."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


@pytest.fixture
def ctx(request: pytest.FixtureRequest, listener: socket.socket) -> Iterator[Ctx]:
    """A world-readable folder (only the sandbox may keep student code out of it) with canaries:
    in the temporary folder, or in the project, for scenarios about folders outside /tmp."""
    outside = request.node.callspec.params["s"].outside_tmp
    beside = ROOT if os.access(ROOT, os.W_OK) else Path.home()  # without root, the project is root's
    work = Path(
        tempfile.mkdtemp(prefix=".redteam-" if outside else "redteam-", dir=beside if outside else None)
    )
    work.chmod(0o755)
    secret = "s" + secrets.token_hex(12)
    (work / "canary.txt").write_text(CANARY)
    (work / "canary.txt").chmod(0o666)
    (work / "secret.txt").write_text(f"redteam-secret-file: {secret}\n")
    (work / "secret.txt").chmod(0o644)
    (work / "out").mkdir(mode=0o777)
    (work / "out").chmod(0o777)
    marker = f"{100 + secrets.randbelow(50)}.{secrets.randbelow(10**6):06d}"  # a sleep duration
    try:
        yield Ctx(work, secret, marker, listener.getsockname()[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for path in _strays(marker):  # only there if the sandbox failed: clean up after the attack
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


def _strays(marker: str) -> list[Path]:
    """What an attack tried to leave in the machine's shared folders."""
    return [p for d in SHARED for p in [Path(d) / f"redteam-{marker}"] if p.exists() or p.is_symlink()]


def _write(s: Scenario, ctx: Ctx) -> Path:
    path = ctx.work / "submission.ipynb"
    if s.invalid is not None:
        path.write_bytes(s.invalid)
    else:
        write_notebook(path, make_notebook([ctx.fill(c) for c in s.cells()]))
    for name, text in s.files.items():
        (ctx.work / name).write_text(ctx.fill(text))
    return path


def _grade(s: Scenario, mode: str, ctx: Ctx, path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    cmd = [GRADER, "run", "--format", "json", "--output", str(ctx.work / "out"), str(path)]
    if mode == "fast":
        cmd.insert(2, "--fast")
    if s.timeout is not None:
        cmd += ["--timeout", str(s.timeout)]
    env = {k: v for k, v in os.environ.items() if k != "GRADER_ROOT"}
    env["REDTEAM_SECRET"] = ctx.secret
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=ctx.work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=s.bound + 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the grader hung: killed after {s.bound + 60:.0f} s\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), time.monotonic() - started


def _leftovers(marker: str) -> list[int]:
    """Processes an attack started (they run `sleep <marker>`) that are still alive."""
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and marker.encode() in (p / "cmdline").read_bytes():
                found.append(int(p.name))
        except OSError:
            pass
    return found


def _check_function(s: Scenario, f: dict[str, Any]) -> None:
    cases = {c.name: c for c in CASES[f["name"]].cases}
    assert [t["name"] for t in f["tests"]] == list(cases), "every case must be reported"
    if f["name"] != s.attacked:
        assert f["score"] == f["max_score"], f"{f['name']} lost marks to another function's attack: {f}"
        assert f["status"] == "passed"
        return
    if s.self_harm:
        return
    if s.partial:
        assert 0 < f["score"] < f["max_score"], f
        assert any(not t["passed"] for t in f["tests"] if t["hidden"]), "hidden cases must catch it"
        return
    assert f["score"] == 0, f
    assert f["status"] in ("failed", "error", "timeout", "killed"), f
    assert re.search(s.reason, f["message"], re.IGNORECASE), f"unclear reason: {f['message']!r}"
    assert all(not t["passed"] for t in f["tests"])


@pytest.mark.parametrize(("s", "mode"), RUNS)
def test_redteam(s: Scenario, mode: str, ctx: Ctx, listener: socket.socket) -> None:
    missing = [layer for layer in s.needs if not getattr(isolation.available_isolation(), layer)]
    if missing:
        pytest.skip(f"this machine cannot give the sandbox {', '.join(missing)} isolation")
    path = _write(s, ctx)
    proc, elapsed = _grade(s, mode, ctx, path)

    # the grader is unharmed, its report complete and the same on stdout and on disk
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # exactly one JSON document: nothing forged around it
    assert json.loads((ctx.work / "out" / "submission.json").read_text()) == report
    assert elapsed < s.bound, f"took {elapsed:.1f} s (bound {s.bound} s)"
    if s.invalid is not None:
        assert report["status"] == "invalid" and report["functions"] == []
        assert re.search(s.reason, report["message"]), report["message"]
        return
    assert report["status"] == "graded", report["message"]
    assert [f["name"] for f in report["functions"]] == list(GRADED)
    for f in report["functions"]:
        _check_function(s, f)
    if mode == "full":
        assert "execution" in report
        if s.execution:
            assert report["execution"]["status"] in s.execution, report["execution"]

    # nothing outside the sandbox changed, leaked or stayed behind
    assert (ctx.work / "canary.txt").read_text() == CANARY
    assert (ctx.work / "secret.txt").exists()
    expected_files = {"canary.txt", "secret.txt", "submission.ipynb", "out", *s.files}
    assert {p.name for p in ctx.work.iterdir()} == expected_files
    assert ctx.secret not in proc.stdout + proc.stderr
    with pytest.raises(BlockingIOError):
        listener.accept()
    deadline = time.monotonic() + 3
    while _leftovers(ctx.marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _leftovers(ctx.marker), "processes started by the submission outlived the grading"
    assert not _strays(ctx.marker), "the submission left files in the machine's shared folders"
    if s.check is not None:
        s.check(report, ctx)


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 40
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


# ----------------------------------------------------------------------------- isolation


def test_report_lists_missing_isolation_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the machine refuses mount and PID namespaces and the user switch, the report says so."""
    real_probe = isolation._probe
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    monkeypatch.setattr(isolation, "_probe", lambda cfg: not (cfg["mounts"] or cfg["pids"]) and real_probe(cfg))
    iso = isolation.available_isolation()
    assert not iso.complete and not iso.mounts and not iso.user
    report = grade.grade_path(ROOT / "reference" / "initialization" / "Initialization.ipynb", grade.Options())
    assert report.score == report.max_score  # grading still works, with fewer layers
    text = " ".join(report.isolation)
    assert "no mount namespace" in text and "no PID namespace" in text and "own user" in text
    assert "network" not in text or not iso.network


def test_cli_refuses_incomplete_isolation_when_required(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from grader.sandbox import isolation\n"
        "from grader.sandbox.limits import Isolation\n"
        "isolation._ISOLATION = Isolation(True, False, True, False, ('no mount namespace: test',))\n"
        "from grader.cli import entry\n"
        f"sys.argv = ['grader', 'run', '--require-isolation', '--fast', {str(ROOT / 'reference' / 'initialization' / 'Initialization.ipynb')!r}]\n"
        "entry()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert "isolation is incomplete" in proc.stderr and "no mount namespace" in proc.stderr
    assert proc.stdout == ""


def test_cli_grades_when_isolation_is_required_and_complete() -> None:
    if not isolation.available_isolation().complete:
        pytest.skip("isolation is incomplete on this machine")
    ref = ROOT / "reference" / "initialization" / "Initialization.ipynb"
    proc = subprocess.run(
        [GRADER, "run", "--require-isolation", "--fast", "--format", "json", str(ref)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["score"] == report["max_score"] and report["isolation"] == []
