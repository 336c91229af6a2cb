"""grader: an auto-grader for Jupyter notebook assignments."""

__version__ = "0.1.0"
