"""Grading one submission: read it, run each answer in the sandbox, judge it, one Report.

grade.py (one notebook: recognise its assignment, run and judge each graded function, a function
that calls another once that one is right; the full-notebook run), check.py (a student's
self-check: the same grading on the visible cases only).

May import: judging/, sandbox/, reading/ and the base modules.
"""
