"""A notebook's kernel cannot make the grader's own process hold what it sends.

Red team 3: a top-level cell sent 16 stream messages of 200 MB down the kernel's own iopub socket;
the output cap applies to what nbclient keeps, after the message is read, and the grader's process
held 2.1 GB (64 MB normally). Kernel messages are now bounded in size and in number waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TOY, make_notebook, write_notebook

FLOOD = """k = get_ipython().kernel
blob = "x" * (120 << 20)
for i in range(6):  # 720 MB in all, 120 MB a message
    k.session.send(k.iopub_socket, "stream", {"name": "stdout", "text": blob}, parent=k.get_parent("shell"))
"""
MEASURE = """
import json, os, sys
from pathlib import Path
os.environ["GRADER_ROOT"] = sys.argv[2]
from grader.sandbox import execute
out = execute.run_notebook(Path(sys.argv[1]), "toy", output=None, cell_timeout=60)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would count the pytest
# worker that started us (860 MB once it had run the feedback pages' tests)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"status": out["status"], "peak_mb": int(hwm.split()[1]) >> 10}))
"""


def test_a_flooding_kernel_does_not_fill_the_graders_memory(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "flood.ipynb", make_notebook([FLOOD, "print('after the flood')"]))
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}  # nothing a test set
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(nb), str(TOY)], capture_output=True, text=True, timeout=600, env=clean
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    # the kernel's 720 MB never sit in the grader: ~890 MB peak before, ~50 MB after
    assert got["peak_mb"] < 250, got
