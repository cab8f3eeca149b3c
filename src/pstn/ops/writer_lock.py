"""One writer at a time for an archive and its warehouses.

Every command that writes the archive, the landing folder's state or a warehouse (load, build,
run, nightly, rollback, fetch, publish, verify) holds an exclusive kernel lock on a file in the
archive folder and one beside the published warehouse, in that order, for as long as it runs.
The kernel drops the lock when the process ends however it ends (kill -9 included), so a stale
lock file never blocks anybody. A second writer stops with exit 75 and a message that names the
holder, or waits for it with `--wait SECONDS`.

POSIX systems lock with flock(2), Windows with msvcrt's byte-range lock on one byte far past the
end of the file: the same rule on both. (Windows byte-range locks are mandatory; locking a byte the
file never holds leaves the holder's record readable to the process that is turned away.)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pstn.settings import Settings

EXIT_BUSY = 75  # EX_TEMPFAIL: another writer is running; try again later
LOCK_NAME = ".pstn-writer.lock"
POLL_SECONDS = 0.25
WINDOWS = os.name == "nt"
WINDOWS_LOCK_OFFSET = 1 << 30  # the byte Windows locks: past any record the file holds


class WriterBusy(Exception):
    """Another process holds the writer lock; the message names it and what to do."""


def lock_files(settings: Settings) -> list[Path]:
    """The archive's lock first, then the published warehouse's (a fixed order: no deadlock)."""
    return [
        settings.archive_dir / LOCK_NAME,
        settings.warehouse.with_name(f".{settings.warehouse.name}.writer.lock"),
    ]


def _try_lock(handle: IO[str]) -> bool:
    if WINDOWS:
        import msvcrt

        handle.flush()
        os.lseek(handle.fileno(), WINDOWS_LOCK_OFFSET, os.SEEK_SET)  # locking() starts at the position
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    """Who holds `path`, as its holder wrote it just after taking the lock; read again for a moment
    if the holder is still writing it."""
    for _ in range(20):
        try:
            record = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            record = {}
        if "pid" in record:
            return f"pid {record['pid']} ({record.get('command', '?')}) since {record.get('since', '?')}"
        time.sleep(0.05)
    return "another process"


@contextlib.contextmanager
def writer_lock(settings: Settings, command: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the writer lock of `settings`' archive and warehouse while the block runs.

    Raises WriterBusy when another process holds it for longer than `wait_seconds`.
    """
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    handles: list[IO[str]] = []
    try:
        for path in lock_files(settings):
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+", encoding="utf-8")
            handles.append(handle)
            while not _try_lock(handle):
                if time.monotonic() >= deadline:
                    raise WriterBusy(
                        f"another writer is running on {path.parent}: {_holder(path)}. "
                        "Wait for it to finish, or pass --wait SECONDS to queue behind it"
                    )
                time.sleep(POLL_SECONDS)
            handle.seek(0)
            handle.truncate()
            record = {"pid": os.getpid(), "command": command, "since": datetime.now(UTC).isoformat(timespec="seconds")}
            handle.write(json.dumps(record))
            handle.flush()
        yield
    finally:
        for handle in reversed(handles):
            with contextlib.suppress(OSError):
                handle.close()  # closing the descriptor releases the kernel lock


def report_busy(command: str, error: WriterBusy) -> int:
    print(f"pstn {command}: {error}", file=sys.stderr)
    return EXIT_BUSY
