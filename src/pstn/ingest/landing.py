"""The landing folder is read, never obeyed.

What the loader may take from it, and how much:
- Only regular files reached without following a link. A symbolic link (to a file or a folder,
  inside the landing folder or outside it), a FIFO, a socket or a device is not opened; each is
  listed as rejected with its reason. A name starting with `.` or `~$` (hidden files, Office lock
  files, a hidden folder and everything in it) is not data: listed as skipped, never read. The
  project's own state (`.pstn*`, the Graph fetcher's) is neither read nor listed.
- Every file is read in bounded steps: a file over `max_file_bytes` is rejected; a line over
  `max_line_bytes` is cut out as it streams past (its row is quarantined with its length), so one
  endless line costs no more memory than the bound. Zip members are inflated as a stream with
  bounds on each member, on the whole archive, on the compression ratio and on the member count.

The bounds have defaults that fit every real export (a Teams admin-center row is ~500 bytes and
20 columns) and each can be raised with its environment variable.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pstn.ingest.bounds import Bounds, MiB
from pstn.ingest.rawfile import OVERSIZED_LINE, FileRejected

KIND_FOLDERS = {"cdr": "cdr", "licenses": "licenses", "licences": "licenses", "credits": "credits"}
DEFAULT_TENANT = "default"
OWN_STATE_PREFIX = ".pstn"
CHUNK = 1 << 20
# Inflating in small steps makes zipfile consume compressed input in small steps too, so the
# ratio guard sees a bomb after a few of them.
ZIP_STEP = 1 << 16


class TooLarge(FileRejected):
    """More bytes than a bound allows."""


@dataclass(frozen=True)
class LandedFile:
    """One entry under the landing folder: a regular file to read, or something that is not read
    (`status` 'rejected' or 'skipped', with `reason`)."""

    kind: str | None
    tenant_id: str
    path: Path
    relative: str
    status: str | None = None
    reason: str | None = None
    size: int = 0
    mtime_ns: int = 0


def _special_kind(mode: int) -> str | None:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None


def _count_files(folder: str) -> int:
    count = 0
    for _root, _dirs, files in os.walk(folder, followlinks=False):
        count += len(files)
    return count


def discover(raw_dir: Path) -> Iterator[LandedFile]:
    """Every entry below `raw_dir/<kind>/[<tenant>/]`, without following a link.

    Regular files come oldest first (modification time, then path): when two files of one load
    carry the same UsageId with different content, the later download wins, as it would in a
    later load. What is not read follows, each once.
    """
    if not raw_dir.is_dir():
        return
    regular: list[LandedFile] = []
    refused: list[LandedFile] = []

    def entry(relative: str, **kwargs) -> LandedFile:
        parts = relative.split("/")
        kind = KIND_FOLDERS.get(parts[0].lower()) if len(parts) > 1 else None
        tenant = parts[1] if len(parts) > 2 else DEFAULT_TENANT
        return LandedFile(kind, tenant, raw_dir / relative, relative, **kwargs)

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for item in sorted(entries, key=lambda e: e.name):
                relative = prefix + item.name
                if item.name.startswith(OWN_STATE_PREFIX):
                    continue
                info = item.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    refused.append(
                        entry(
                            relative,
                            status="rejected",
                            reason="symbolic link: not followed (a link can point outside the landing folder); "
                            "copy the file itself into the folder",
                            mtime_ns=info.st_mtime_ns,
                        )
                    )
                elif stat.S_ISDIR(info.st_mode):
                    if item.name.startswith("."):
                        files = _count_files(item.path)
                        refused.append(
                            entry(
                                relative + "/",
                                status="skipped",
                                reason=f"hidden folder (name starts with '.'): its {files} file(s) are not data "
                                "and were not read; rename it to load them",
                                mtime_ns=info.st_mtime_ns,
                                size=files,
                            )
                        )
                    else:
                        walk(item.path, relative + "/")
                elif (special := _special_kind(info.st_mode)) is not None:
                    refused.append(
                        entry(relative, status="rejected", reason=f"{special}, not a regular file: not read")
                    )
                elif item.name.startswith((".", "~$")):
                    refused.append(
                        entry(
                            relative,
                            status="skipped",
                            reason="hidden or temporary file (name starts with '.' or '~$'): not data, not read",
                            size=info.st_size,
                            mtime_ns=info.st_mtime_ns,
                        )
                    )
                else:
                    regular.append(entry(relative, size=info.st_size, mtime_ns=info.st_mtime_ns))

    walk(str(raw_dir), "")
    regular.sort(key=lambda f: (f.mtime_ns, f.relative))
    yield from regular
    yield from refused


# -- bounded reading ---------------------------------------------------------------------------
@dataclass
class BoundedRead:
    data: bytes
    sha256: str
    size: int


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading only if it is, at the moment of opening, a regular file reached
    without a link (no race between the check and the open)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise FileRejected(f"cannot be opened: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise FileRejected("not a regular file: not read")
    return os.fdopen(descriptor, "rb")


def read_bounded(
    stream: BinaryIO,
    bounds: Bounds,
    lines: bool,
    limit: int | None = None,
    limit_name: str = "max_file_bytes",
    check: Callable[[int], None] | None = None,
    step: int = CHUNK,
) -> BoundedRead:
    """Read `stream` to its end in steps of at most a line bound, hashing what was read.

    With `lines`, a line longer than `bounds.max_line_bytes` is replaced, as it streams past, by
    one line `OVERSIZED_LINE<length>` (its row is quarantined with that length); a first line
    (a header) that long rejects the file. More than `limit` bytes in all rejects the file;
    `check(bytes read so far)` may reject it too (the zip reader's ratio guard).
    """
    limit = bounds.max_file_bytes if limit is None else limit
    chunk_size = min(step, bounds.max_line_bytes) if lines else step
    digest = hashlib.sha256()
    out = bytearray()
    total = 0
    current = 0  # bytes of the line being read so far
    cutting = False  # inside a line over the bound: its bytes are dropped
    line_number = 1

    def finish_line() -> None:
        nonlocal cutting, current
        if cutting:
            if line_number == 1:
                raise FileRejected(f"header line of {current:,} bytes is {bounds.over('max_line_bytes')}")
            out.extend(f"{OVERSIZED_LINE}{current}\n".encode())
        cutting = False
        current = 0

    while chunk := stream.read(chunk_size):
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"more than {limit:,} bytes: {bounds.over(limit_name)}")
        if check is not None:
            check(total)
        digest.update(chunk)
        if not lines:
            out.extend(chunk)
            continue
        position = 0
        while position < len(chunk):
            newline = chunk.find(b"\n", position)
            end = len(chunk) if newline < 0 else newline + 1
            piece = end - position
            if not cutting and current + piece - (newline >= 0) > bounds.max_line_bytes:
                del out[len(out) - current :]
                cutting = True
            if not cutting:
                out.extend(memoryview(chunk)[position:end])
            current += piece
            position = end
            if newline >= 0:
                finish_line()
                line_number += 1
                last = chunk.rfind(b"\n", position)
                if last >= 0:
                    # Whole lines inside one chunk are shorter than the bound: copy them at once.
                    out.extend(memoryview(chunk)[position : last + 1])
                    line_number += chunk.count(b"\n", position, last + 1)
                    position = last + 1
    if lines and current:
        finish_line()
    return BoundedRead(bytes(out), digest.hexdigest(), total)


def read_landed_file(path: Path, bounds: Bounds, lines: bool) -> BoundedRead:
    """A landed file within its bounds: a `.json` document, parsed whole, stops at its own bound
    as it streams in (not after the whole file is in memory)."""
    json_document = path.suffix.lower() == ".json"
    limit, name = (bounds.max_json_bytes, "max_json_bytes") if json_document else (None, "max_file_bytes")
    with open_regular(path) as stream:
        try:
            return read_bounded(stream, bounds, lines, limit=limit, limit_name=name)
        except TooLarge as exc:
            if json_document:
                raise TooLarge(f"JSON document {exc}: write JSON Lines (.jsonl) for large exports") from exc
            raise


def hash_file(path: Path, bounds: Bounds) -> tuple[str, int]:
    """SHA-256 and size of a landed file, streamed (a zip is hashed before it is opened)."""
    digest = hashlib.sha256()
    total = 0
    with open_regular(path) as stream:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > bounds.max_file_bytes:
                raise TooLarge(f"more than {bounds.max_file_bytes:,} bytes: {bounds.over('max_file_bytes')}")
            digest.update(chunk)
    return digest.hexdigest(), total


@dataclass
class ZipMember:
    name: str
    data: bytes | None
    sha256: str
    size: int
    reason: str | None = None  # why it was not read (then data is None)


def unsafe_member_name(name: str) -> str | None:
    """Member names are labels here, never paths to write; a name that would escape a folder on
    extraction is still named as what it is."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path in the zip member's name"
    if ".." in name.replace("\\", "/").split("/"):
        return "'..' in the zip member's name (path traversal)"
    return None


def _ratio_guard(member: BinaryIO, info: zipfile.ZipInfo, bounds: Bounds) -> Callable[[int], None]:
    """Stop a member as soon as what it inflated so far is more than `max_zip_ratio` times the
    compressed bytes it consumed (after the first MiB): a bomb is caught within its first MiB,
    not after it has filled memory."""

    def check(inflated: int) -> None:
        left = getattr(member, "_compress_left", None)  # CPython's count of compressed bytes not yet read
        consumed = info.compress_size - left if isinstance(left, int) else info.compress_size
        if inflated > MiB and inflated > bounds.max_zip_ratio * max(consumed, 1):
            raise FileRejected(
                f"inflates more than {bounds.max_zip_ratio} times its compressed size "
                f"({bounds.over('max_zip_ratio')}): a zip bomb, or not an export"
            )

    return check


def zip_members(path: Path, bounds: Bounds, lines_for: tuple[str, ...] = (".csv",)) -> Iterator[ZipMember]:
    """The members of a zip file, one at a time, each inflated as a stream within the bounds. A
    member that cannot be read, or is over a bound, is yielded with its reason and no data (once
    the members have inflated to the total bound, every later one is). Only an archive that cannot
    be opened at all, or has too many members, raises, before anything is yielded."""
    try:
        stream = open_regular(path)
        archive = zipfile.ZipFile(stream)
    except FileRejected:
        raise
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError) as exc:
        raise FileRejected(f"not a readable zip archive ({exc})") from exc
    with stream, archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > bounds.max_zip_members:
            raise FileRejected(f"zip of {len(infos):,} members is {bounds.over('max_zip_members')}")
        total = 0
        for info in infos:
            reason = unsafe_member_name(info.filename)
            if reason is None and total >= bounds.max_zip_total_bytes:
                reason = f"not read: the members before it inflate to {bounds.over('max_zip_total_bytes')}"
            if reason:
                yield ZipMember(info.filename, None, "", info.file_size, reason)
                continue
            left = bounds.max_zip_total_bytes - total
            limit, name = (
                (bounds.max_zip_member_bytes, "max_zip_member_bytes")
                if bounds.max_zip_member_bytes <= left
                else (left, "max_zip_total_bytes")
            )
            try:
                with archive.open(info) as member:
                    read = read_bounded(
                        member,
                        bounds,
                        info.filename.lower().endswith(lines_for),
                        limit=limit,
                        limit_name=name,
                        check=_ratio_guard(member, info, bounds),
                        step=ZIP_STEP,
                    )
            except TooLarge as exc:
                total += limit
                yield ZipMember(info.filename, None, "", info.file_size, str(exc))
                continue
            except FileRejected as exc:
                yield ZipMember(info.filename, None, "", info.file_size, str(exc))
                continue
            except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
                yield ZipMember(info.filename, None, "", info.file_size, f"zip member cannot be read ({exc})")
                continue
            total += read.size
            yield ZipMember(info.filename, read.data, read.sha256, read.size)


def zip_parameters(path: Path, bounds: Bounds) -> str | None:
    """The text of an admin-center export's `parameters.json` member, if it has a readable one
    (at most one MiB); only that member is inflated. An archive that cannot be read gives None
    here and its reason from `zip_members`."""
    try:
        with open_regular(path) as stream, zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                if info.filename.lower().endswith("parameters.json") and unsafe_member_name(info.filename) is None:
                    with archive.open(info) as member:
                        read = read_bounded(member, bounds, False, limit=MiB, check=_ratio_guard(member, info, bounds))
                    return read.data.decode("utf-8", "replace")
    except (FileRejected, zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError, RuntimeError):
        return None
    return None
