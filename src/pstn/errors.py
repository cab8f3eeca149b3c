"""Failures an operator can fix. The command line prints the message as one line (`pstn <command>:
<message>`) and exits 2; the message says what is wrong and what to do."""

from __future__ import annotations


class OperatorError(Exception):
    """A setting, a file or another program in the way; the message names it and the fix."""
