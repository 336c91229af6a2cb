"""Authoring an assignment: what an instructor runs before any student hands anything in.

reference.py (loading the reference solutions), release.py (the student notebooks, from the
reference), expected.py (the expected values, from the reference run in the sandbox), variants.py
(each student's secret cases' expected values, computed when missing or stale), validate.py (an
assignment checked as its CI would; secret_check.py, its look at the secret cases), reproduce.py
(the course's printed figures, trained again), bundle.py (the Gradescope autograder zip),
scaffold.py (`grader new`).

May import: reports/, grading/ and everything below them; never course/, its sibling.
"""
