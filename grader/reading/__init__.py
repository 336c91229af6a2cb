"""Reading: what a submission and an assignment are, as plain data.

notebook.py reads a notebook file into cells and finds the code they define; selection.py picks
out the code that makes up one graded function's answer; assignment.py reads an assignment's
spec (assignments/<name>/assignment.toml), its cases and its expected values (expected/).

May import: the base modules only (grader.errors, grader.results, grader.files).
"""
