"""Judging what came back from the sandbox: plain results in, verdicts (TestResult,
FunctionResult) out.

prepared.py (what judging an assignment needs, loaded once: expected values, templates, the
reference's graded functions), compare.py (an output against the expected one, within the case's
tolerance), judge.py (a function's verdict from its raw results), mistakes.py (the catalogue of
recognised mistakes, and recognising them), feedback.py (the words a student reads).

May import: sandbox/ (the codec; the runner, which the mistake catalogue's checks use), reading/,
and the base modules.
"""
