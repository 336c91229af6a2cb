"""Running a course: a class of submissions, and the grades they get.

found.py (which files a hand-in is), handins/ (LMS downloads and layouts: who handed in what,
when, late or not; zips unpacked safely), intake.py (a download read and matched to the roster,
then recorded), links.py (hand-ins that are the grader's own files),
batch.py (a class graded into reports and a gradebook), plan.py (a batch's plan, submissions and
outcome), pool.py and cluster.py (grading in this process or on Dask), gradebook.py (the grades,
the hand-ins, adjustments, and the per-file CSV/JSON export), standings.py (which hand-in counts),
exports.py (Canvas, Moodle, CSV, JSON per student), cells.py (CSV cells no spreadsheet runs),
adjust.py (`grader adjust`), feedback.py
(a folder per student).

May import: reports/, grading/ and everything below them; never authoring/, its sibling.
"""
