"""Small file helpers shared by the loader's archive, the builds, the nightly and the Graph fetcher."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never a part:
    through a hidden temporary file beside it (a dotfile, which the loader never takes for data),
    then a rename."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def copy_atomically(source: Path, target: Path) -> None:
    """Copy `source` to `target` so that a reader sees the old file or the new one, never a part;
    the temporary name is the process's own, so two processes copying at once do not collide."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


PRIVATE_MODE = 0o700


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) so that only its owner can enter it; an existing folder
    this project created before gets the same mode."""
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_MODE)
    os.chmod(folder, PRIVATE_MODE)
