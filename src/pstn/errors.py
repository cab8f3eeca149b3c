"""Failures an operator can fix. The command line prints the message as one line (`pstn <command>:
<message>`) and exits 2; the message says what is wrong and what to do."""

from __future__ import annotations


class OperatorError(Exception):
    """A setting, a file or another program in the way; the message names it and the fix."""


def one_line(error: BaseException) -> str:
    """An unexpected error as one line: its type and the first line of its message."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"
