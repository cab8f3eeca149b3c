"""What a quarantined row may show of itself.

The archive is private; `rpt_ingest_rejections` is not: a person fixing an export reads it, and so
can a BI tool. A rejected row is kept twice, each cut to `RAW_RECORD_CHARS`: as read (private),
and as a template where the row's own personal values (object id, UPN, display name, caller and
callee numbers) stand as `⟦column⟧` tokens, which the mart fills with the same masked numbers and
(when pseudonymisation is on) the same keyed hashes as every other mart. Personal data the loader
cannot name (an unknown column, a line of text) is masked by its shape: an e-mail address is
removed, a value that reads as a phone number keeps its last three digits.
"""

from __future__ import annotations

import json
import re

# A quarantined row keeps at most this much of its raw record (and of each personal value).
RAW_RECORD_CHARS = 4000
PERSONAL_VALUE_CHARS = 256
PERSONAL = ("user_id", "user_principal_name", "user_display_name", "caller_number", "callee_number")

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# A whole value written like a phone number: `+` and 7 digits or more, or 10 digits or more
# (a conference id has fewer; a date is not one).
PHONE_LIKE = re.compile(r"^\s*(\+[\d\s().\-/]{7,}|[\d\s().\-/]{10,})$")
DATE_LIKE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T][\d:.]+)?\s*$")
# The same inside text, standing alone (not a segment of a GUID or a longer token).
DIGIT_RUN = re.compile(r"(?<![\w\-])(\+\d{7,}|\d{10,})(?![\w\-])")


def token(column: str) -> str:
    return f"⟦{column}⟧"


def cut(text: str | None, limit: int = RAW_RECORD_CHARS) -> str | None:
    """`text`, or its first `limit` characters and how many more there were."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text) - limit:,} more characters not kept)"


def _last_digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return "***" + digits[-3:]


def _mask_unknown(value: str) -> str:
    enough = sum(c.isdigit() for c in value) >= (7 if value.lstrip().startswith("+") else 10)
    if enough and PHONE_LIKE.match(value) and not DATE_LIKE.match(value):
        return _last_digits(value)
    value = EMAIL.sub("[e-mail removed]", value)
    return DIGIT_RUN.sub(lambda match: _last_digits(match.group()), value)


def _scrub(value: object, personal: dict[str, str]) -> object:
    if isinstance(value, dict):
        return {key: _scrub(item, personal) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, personal) for item in value]
    if isinstance(value, str):
        stripped = value.strip()
        for column, known in personal.items():
            if stripped == known:
                return token(column)
        return _mask_unknown(value)
    return value


def masked_record(raw_json: str, personal: dict[str, str | None]) -> str:
    """The template of a raw record (JSON text): its personal values as tokens, unknown personal
    data masked by shape, cut to the bound."""
    try:
        record = json.loads(raw_json)
    except ValueError:
        record = raw_json
    known = {column: value.strip() for column, value in personal.items() if value and value.strip()}
    return cut(json.dumps(_scrub(record, known), ensure_ascii=False, default=str)) or ""
