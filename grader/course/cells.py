"""CSV cells a spreadsheet shows and never runs (OWASP's CSV injection guidance).

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets: `=HYPERLINK(...)` sends the sheet's data away, `=cmd|...` runs a
program through DDE. Names, emails, ids and file names in an export are text a student may have
set, so each gets a leading `'` when it starts like that (shown as text, never run) and is
quoted, so a separator inside it (`,`, or a locale's `;`) never starts a cell of its own. The
numbers the grader computes (scores, maxima) are written as they are: nobody's text.

An id an LMS's import matches students on (`key`) is kept as it is when it is a plain id
(letters, digits and `. _ % + @ -` only: no call, link or command fits in it), since an altered
id would match no one; any other text there is neutralised like a name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FORMULA = ("=", "+", "-", "@", "\t", "\r")
PLAIN_ID = re.compile(r"[A-Za-z0-9._%+@-]*")
_SPECIAL = re.compile(r'[,"\r\n]')


class Text(str):
    """A cell of text someone else set: always quoted when written."""


def text(value: object) -> Text:
    """`value` as a text cell: a leading `'` when a spreadsheet would read it as a formula."""
    s = "" if value is None else str(value)
    return Text("'" + s if s.startswith(FORMULA) else s)


def key(value: object) -> Text:
    """An id the LMS matches on: as it is when a plain id (no formula fits), else as `text`."""
    s = "" if value is None else str(value)
    return Text(s) if PLAIN_ID.fullmatch(s) else text(s)


def rows(lines: Sequence[Sequence[str]]) -> str:
    """CSV (RFC 4180, `\\n` line ends): `Text` cells quoted, others only when they must be."""
    return "".join(",".join(_cell(c) for c in line) + "\n" for line in lines)


def _cell(c: str) -> str:
    if isinstance(c, Text) or _SPECIAL.search(c):
        return '"' + c.replace('"', '""') + '"'
    return c
