"""What a person sees on long work: a bar on a terminal, a plain line every few seconds in a log.

    with Progress("load", total=files, unit="files") as progress:
        progress.update(1, note=f"{rows:,} rows read")

On a terminal (stderr is a TTY) tqdm draws a bar. Anywhere else (a scheduler, `make` piped into
a log) one line is printed every `interval` seconds: `load: 12 of 40 files (30 %), 1,234,567
rows read, 25 s`, and a last line when work that lasted longer than the interval ends. Work that
ends within the interval prints nothing, so short runs stay quiet.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

INTERVAL = float(os.environ.get("PSTN_PROGRESS_SECONDS", "5"))


class Progress:
    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "items",
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interval = INTERVAL if interval is None else interval
        self.done = 0
        self.note = ""
        self.started = self.last = time.monotonic()
        self.shown: tuple[int, str] | None = None  # what the last plain line said
        self.bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=f" {unit}", desc=label, file=self.stream, unit_scale=total is None)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def update(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        if note is not None:
            self.note = note
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            if note is not None:
                self.bar.set_postfix_str(note, refresh=False)
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def phase(self, note: str) -> None:
        """A named stage of the work with no count of its own (`validating with Great Expectations`)."""
        self.update(0, note)
        if (
            self.enabled
            and self.bar is None
            and time.monotonic() - self.started >= self.interval
            and self.shown != (self.done, self.note)
        ):
            self._line(time.monotonic())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled and time.monotonic() - self.started >= self.interval and self.shown != (self.done, self.note):
            self._line(time.monotonic())
        self.enabled = False

    def _line(self, now: float) -> None:
        self.shown = (self.done, self.note)
        count = f"{self.done:,} of {self.total:,} {self.unit}" if self.total else f"{self.done:,} {self.unit}"
        if self.total:
            count += f" ({100 * self.done // max(self.total, 1)} %)"
        note = f", {self.note}" if self.note else ""
        print(f"{self.label}: {count}{note}, {now - self.started:,.0f} s", file=self.stream, flush=True)
