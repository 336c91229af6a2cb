"""The scratch folder a sandbox runs in: a fresh read-only copy of the assignment's released
files with a writable tmp/, removed afterwards (and swept when a grader died without removing
it), and the only environment student code sees."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_SWEPT = False


def sweep_scratch() -> None:
    """Remove the scratch directories of graders that died without cleaning up (SIGKILL, power):
    each name carries its owner's process id, and one whose owner is gone is left over."""
    for path in Path(tempfile.gettempdir()).glob("grader-*-*"):
        pid = path.name.split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid() or not path.is_dir() or path.is_symlink():
            continue
        try:
            if path.stat().st_uid != os.geteuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            remove_scratch(path)
        except OSError:  # alive, or not ours to judge
            continue


def prepare_scratch(folder: Path, files: tuple[str, ...]) -> Path:
    """A fresh directory with only the released files: read-only, plus a writable tmp/."""
    global _SWEPT
    if not _SWEPT:
        _SWEPT = True
        sweep_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"grader-{os.getpid()}-"))
    for rel in files:
        src = folder / rel
        dst = scratch / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        dst.chmod(0o444)
    tmp = scratch / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    (scratch / ".jail").mkdir(mode=0o700)
    for d in [scratch, *[p for p in scratch.rglob("*") if p.is_dir() and p.name not in ("tmp", ".jail")]]:
        d.chmod(0o555)
    return scratch


def remove_scratch(scratch: Path) -> None:
    """Delete a scratch directory made read-only on purpose."""
    for d in [scratch, *scratch.rglob("*")]:
        try:
            if d.is_dir() and not d.is_symlink():
                d.chmod(0o755)
        except OSError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)


# Settings a machine may need (and whoever runs the grader then sets) that decide which code
# computes, and so the last bits of results: student code must compute as the grader does. From
# OpenBLAS's runtime variables: the kernels it uses (CORETYPE, instead of what it detects), the
# cache size its blocking assumes (L2_SIZE, which virtual machines misreport), its GEMM block
# scale (BLOCK_FACTOR); numpy's SIMD dispatch; MKL's code path and reproducibility mode. Not
# passed: thread counts (ours, set below), CPU affinity (OPENBLAS_MAIN_FREE and its old name
# GOTOBLAS_MAIN_FREE), thread timeouts and OPENBLAS_VERBOSE, which change no number.
NUMERICS_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_BLOCK_FACTOR",
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
)


def scrubbed_env(scratch: Path) -> dict[str, str]:
    """The only environment student code sees: ours, and the grader's numerics settings."""
    tmp = str(scratch / "tmp")
    return {
        **{k: os.environ[k] for k in NUMERICS_ENV if k in os.environ},
        "PATH": "/usr/bin:/bin",
        "HOME": tmp,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": tmp,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
