"""Small file helpers shared by the loader's archive, the nightly build and the Graph fetcher."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never a part:
    through a hidden temporary file beside it (a dotfile, which the loader never takes for data),
    then a rename."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
