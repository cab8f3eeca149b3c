"""Pseudonymisation of users: a keyed hash (HMAC-SHA-256) of an object id, UPN or display name.

Without the key nobody can tell which user a pseudonym stands for, not even by hashing a list
of known UPNs; with the same key the same user gets the same pseudonym in every build, so
dashboards keep working across nights. The operator supplies the key in `PSTN_PSEUDONYM_KEY`
or in a file named by `PSTN_PSEUDONYM_KEY_FILE`; it is never written anywhere by this project.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from pstn.errors import OperatorError

MIN_KEY_BYTES = 16
PREFIX = "user-"
HEX_DIGITS = 24  # 96 bits: no two users of a tenant share a pseudonym


class PseudonymKeyError(OperatorError):
    """Pseudonymisation is on but no usable key was supplied; the message says how to supply one."""


def switched_on(environ: Mapping[str, str] | None = None) -> bool:
    value = (environ if environ is not None else os.environ).get("PSTN_PSEUDONYMISE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def load_key(environ: Mapping[str, str] | None = None) -> bytes:
    env = environ if environ is not None else os.environ
    key = env.get("PSTN_PSEUDONYM_KEY", "").encode()
    key_file = env.get("PSTN_PSEUDONYM_KEY_FILE", "")
    if not key and key_file:
        try:
            key = Path(key_file).expanduser().read_bytes().strip()
        except OSError as exc:
            raise PseudonymKeyError(f"PSTN_PSEUDONYM_KEY_FILE {key_file} cannot be read: {exc.strerror}") from exc
    if not key:
        raise PseudonymKeyError(
            "pseudonymisation is on but no key was given: set PSTN_PSEUDONYM_KEY (or PSTN_PSEUDONYM_KEY_FILE, "
            f"a file holding it) to a secret of at least {MIN_KEY_BYTES} characters, e.g. `openssl rand -hex 32`"
        )
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"the pseudonymisation key is {len(key)} bytes; use at least {MIN_KEY_BYTES}")
    return key


def pseudonymiser(key: bytes) -> Callable[[str | None], str | None]:
    """value -> `user-<24 hex digits of HMAC-SHA-256(key, value)>`; null stays null."""

    @functools.lru_cache(maxsize=1_000_000)
    def pseudonym(value: str | None) -> str | None:
        if value is None:
            return None
        return PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:HEX_DIGITS]

    return pseudonym
