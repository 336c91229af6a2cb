"""The one exception root: errors are for grader bugs and bad configuration, never students."""


class GraderError(Exception):
    """Base of every error the grader raises on purpose."""


class SpecError(GraderError):
    """An assignment's spec, cases or files are inconsistent."""


class NotebookError(GraderError):
    """A file is not a notebook the grader can read."""
