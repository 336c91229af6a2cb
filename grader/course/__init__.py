"""Running a course: a class of submissions, and the grades they get.

handins.py (which files a hand-in is), links.py (hand-ins that are the grader's own files),
batch.py (a class graded into reports and a gradebook), plan.py (a batch's plan, submissions and
outcome), pool.py and cluster.py (grading in this process or on Dask), gradebook.py (the grades,
and their CSV/JSON export).

May import: reports/, grading/ and everything below them; never authoring/, its sibling.
"""
