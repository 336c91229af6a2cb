"""The sandbox: students' code runs here, where it can do no harm, and only plain data crosses.

In the grader's process: limits.py (what a sandbox may use, which layers it got), isolation.py
(what it shows and hides, the user it runs as, the probe of what this machine allows), syscalls.py
(the seccomp filter: the system calls refused, assembled as BPF for the jail), root.py
(the system's folders and files its root shows), cgroups.py (each sandbox's cgroup: memory and
processes bounded for all its processes together), exposure.py (which of our private files
permissions alone leave readable to the sandbox user), scratch.py (the folder it runs in),
worker.py (start the zygote, hand it jobs, collect results), channel.py (the protocol, and the
check of every result read back), tasks.py (what is asked: code units and encoded inputs), run.py
(warm sessions that survive a worker dying), cache.py (identical answers run once in a batch),
execute.py (the whole notebook in a jailed kernel).

Sent into the sandbox as text, importing nothing of the grader: harness.py joined with codec.py
and compat.py (the zygote and its function children; codec.py is also the grader's side of the
data format; compat.py puts back what numpy 2 removed and students' numpy 1.x answers use),
and jail.py joined with landlock.py (which confine the full run's kernel; landlock.py, the file
system allow-list, is also what jail.apply calls in the grader's forked children).

May import: reading/ and the base modules.
"""
