"""How much one landed file may hold: the bounds the landing folder and the file decoder enforce,
each raised by its environment variable `PSTN_<NAME>`."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

MiB = 1 << 20


@dataclass(frozen=True)
class Bounds:
    """Limits on what one landed file may hold; each is an environment variable `PSTN_<NAME>`."""

    max_file_bytes: int = 2048 * MiB
    max_line_bytes: int = 1 * MiB
    max_field_bytes: int = 64 * 1024
    max_header_columns: int = 1000
    max_json_bytes: int = 64 * MiB
    max_zip_members: int = 1000
    max_zip_member_bytes: int = 2048 * MiB
    max_zip_total_bytes: int = 4096 * MiB
    max_zip_ratio: int = 200

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Bounds:
        env = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            text = env.get(f"PSTN_{item.name.upper()}")
            if text:
                try:
                    values[item.name] = int(text.replace("_", ""))
                except ValueError as exc:
                    raise ValueError(f"PSTN_{item.name.upper()} must be a whole number, not {text!r}") from exc
                if values[item.name] <= 0:
                    raise ValueError(f"PSTN_{item.name.upper()} must be positive, not {text!r}")
        return cls(**values)

    def over(self, name: str) -> str:
        """`over the bound of <n> (PSTN_<NAME>)`: how a rejection names the bound it broke."""
        return f"over the bound of {getattr(self, name):,} (PSTN_{name.upper()})"


def current_bounds() -> Bounds:
    return Bounds.from_env()
