"""Rendering reports, from the result model: what a person or another system reads.

text.py (the terminal table, the student's check view, the JSON of stdout), html.py and
templates/ (a page per submission, and an index), formats.py (Gradescope's results.json, JUnit
XML), summary.py (a batch's summary: text, JSON, a histogram), wrong.py (what the class got wrong:
named mistakes, clusters of unexplained wrong outputs, identical answers), plots.py (a batch's
plots, PNG). A new output format goes here.

May import: grading/, judging/, sandbox/ (the codec, to show values), reading/ and the base modules.
"""
