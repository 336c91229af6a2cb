"""Helper module of the toy assignment."""

FACTOR = 3.0
