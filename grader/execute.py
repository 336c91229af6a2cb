"""The full-notebook run: nbclient, headless, in the same jail as the grading worker.

The only module that imports nbclient. The kernel is started through `jail.py` (confined, then
exec'd), talks to us over ZMQ's ipc transport (unix sockets in the scratch directory) so that it
can live in a network namespace of its own, and its outputs are capped while they stream in.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from grader import assignment as spec
from grader import jail, sandbox
from grader.report import write_atomic

JAIL_SOURCE = Path(jail.__file__).read_text(encoding="utf-8")
OUTPUT_CAP = 2 * 1024 * 1024  # bytes of outputs kept per notebook


def _client_classes() -> tuple[Any, Any]:
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    class JailedKernelManager(KernelManager):
        """Starts the kernel through the jail, with a scrubbed environment."""

        jail_config: dict[str, Any] = {}

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = list(super().format_kernel_cmd(extra_arguments))
            if self.jail_config.get("user"):  # the confined kernel must read its connection file
                os.chown(self.connection_file, jail.NOBODY, jail.NOBODY)
            cmd[0] = sys.executable if os.path.basename(cmd[0]).startswith("python") else cmd[0]
            return [sys.executable, "-I", "-c", JAIL_SOURCE, json.dumps(self.jail_config), "--", *cmd]

    class CappedClient(NotebookClient):
        """Drops outputs once a notebook has produced more than OUTPUT_CAP bytes of them."""

        kept = 0

        def output(
            self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int
        ) -> Any:
            size = len(json.dumps(msg.get("content", {}), default=str))
            self.kept += size
            if self.kept > OUTPUT_CAP:
                return None
            return super().output(outs, msg, display_id, cell_index)

    return JailedKernelManager, CappedClient


def _read(path: Path) -> Any:
    import nbformat

    with open(path, encoding="utf-8") as f:
        nb = nbformat.read(f, as_version=4)
    return nb


def run_notebook(
    path: Path,
    assignment: str,
    *,
    output: Path | None,
    cell_timeout: float = 120.0,
    limits: sandbox.Limits | None = None,
) -> dict[str, Any]:
    """Execute a whole notebook; return what happened (never raises for the notebook's sake)."""
    started = time.monotonic()
    try:
        nb = _read(path)
    except Exception as exc:  # nbformat's many error types: the notebook is unreadable
        return {"status": "unreadable", "message": str(exc)[:300], "errors": [], "seconds": 0.0}
    a = spec.load(assignment)
    scratch = sandbox.prepare_scratch(a.folder, a.files)
    limits = limits or sandbox.Limits()
    iso = sandbox.available_isolation()
    cfg = sandbox.jail_config(scratch, limits, iso, sandbox.secrets() + [str(path.resolve().parent)])
    # no MPLBACKEND: the kernel's own inline backend is what captures the notebook's figures
    cfg["env"] = {k: v for k, v in sandbox.scrubbed_env(scratch).items() if k != "MPLBACKEND"}
    sandbox.adopt_orphans()
    km_cls, client_cls = _client_classes()
    km = km_cls(kernel_name="python3", transport="ipc", ip=str(scratch / "tmp" / "kernel"))
    km.jail_config = cfg
    km.connection_file = str(scratch / "tmp" / "kernel.json")
    client = client_cls(
        nb, km=km, timeout=cell_timeout, allow_errors=True, kernel_name="python3",
        resources={"metadata": {"path": str(scratch)}}, startup_timeout=60,
    )  # fmt: skip
    status, message = "completed", ""
    try:
        client.execute(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # never onto our stdout
    except Exception as exc:  # timeouts, a dead kernel: the run ends here, the grade does not
        status = "timeout" if "Timeout" in type(exc).__name__ else "died"
        message = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        atexit.unregister(client._cleanup_kernel)  # we clean up here, not at interpreter exit
        _kill(km)
        sandbox.reap_orphans()
        sandbox.remove_scratch(scratch)
    result = {
        "status": status,
        "message": message,
        "errors": _errors(nb),
        "figures": sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})),
        "seconds": round(time.monotonic() - started, 3),
    }
    if output is not None:
        import nbformat

        write_atomic(output / f"{path.stem}.executed.ipynb", nbformat.writes(nb))
    return result


def _kill(km: Any) -> None:
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    try:
        km.shutdown_kernel(now=True)
    except Exception:
        pass
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _errors(nb: Any) -> list[dict[str, Any]]:
    found = []
    for i, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(
                    {"cell": i, "ename": out.get("ename", ""), "evalue": str(out.get("evalue", ""))[:300]}
                )
    return found
