"""Deterministic sample data in every input format.

Tenant `default` (Contoso, US): `months` months from January 2024 plus November and December 2019
(the complimentary 900-minute period and the first 60-minute month), E5 bundles, standalone Audio
Conferencing, pay-per-minute and Communications Credits users, licences that change mid-month, a
month in which the pool runs out (and reopens when licences are added on the 15th), dial-out
outside Zone A and to premium numbers, toll-free dial-in, exports that overlap by two days,
masked numbers, a re-export that corrects a few charges, and a handful of bad rows.

Tenant `fabrikam-kr` (South Korea): a small scripted month whose pool figures can be computed by
hand (900 minutes per user kept after December 2019; see `KR_SCRIPT`).

Tenant `northwind`: Calling Plan users in the United Kingdom and the United States (one in Puerto
Rico), April 2024, scripted so every pool can be computed by hand (see `NW_SCRIPT`): the UK
120-minute pool runs out on the 10th, a Domestic and International user uses the international
minutes up first, calls beyond the plans go to credits or are blocked.

The same seed writes byte-identical files. Calls are generated one day at a time, so memory stays
bounded at any size (up to 100M rows, admin-center CSV only above `BIG`).
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import math
import os
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pstn.ingest.reference import SEEDS, billing_increment_seconds
from pstn.progress import Progress

DEFAULT_USERS = 150
DEFAULT_MONTHS = 6
BIG = 5_000_000
# Target pool use per month. The third month runs out before the 15th, reopens when licences are
# added that day and runs out again; the second and fifth cross 80 %.
UTILISATION = (0.62, 0.95, 2.40, 0.72, 0.90, 0.50)
# Share of Zone A dial-out that turns out pool-eligible (pay-per-minute organizers are not; weekends are quiet).
ELIGIBLE_SHARE = 0.86
# Rows of every kind per Zone A dial-out call (_day_calls: outside 0.10, premium 0.03, dial-in 0.60, other 0.80).
CALLS_PER_ZONE_A_CALL = 1 + 0.10 + 0.03 + 0.60 + 0.80
MEAN_DIAL_OUT_SECONDS = 420
DEPARTMENTS = ("Sales", "Support", "Engineering", "Finance", "Marketing", "HR")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam")
LAST_NAMES = ("Novak", "Okafor", "Park", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber")
ZONE_A_WEIGHTS = {
    "US": 50,
    "GB": 12,
    "DE": 10,
    "FR": 6,
    "CA": 5,
    "NL": 3,
    "AU": 3,
    "JP": 3,
    "IN": 3,
    "ES": 2,
    "IT": 2,
    "KR": 1,
}
OUTSIDE_ZONE_A = ("AE", "AR", "EG", "IL", "NG", "PH", "PK", "TR", "VN")
PREMIUM_PREFIXES = ("+1900", "+4490", "+49900", "+3389")
TOLL_FREE_BRIDGE = "+18005550142"
TOLL_BRIDGE = "+14255550100"
TOLL_FREE_SPELLINGS = ("Toll-Free", "TollFree", "toll_free", "TOLL FREE")
SKU_GUIDS = {
    "SPE_E5": "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
    "ENTERPRISEPACK": "6fd2c87f-b296-42f0-b197-1e91e994b900",
    "MCOMEETADV": "0c266dff-15dd-4b49-8397-2bb16070ed52",
    "MCOMEETACPEA": "2d2b1f5a-0000-4000-8000-00000000ac01",
    "MCOPSTNC": "47794cd0-f0e5-45c5-9033-2eb6b5fc84e0",
    "MCOEV": "e43b5b99-8dfb-405f-9987-dc307f34bcbd",
    "MCOPSTN1": "0dab259f-bf13-4952-b7f8-7db8f131b28d",
}
SERVICE_PLANS = {
    "SPE_E5": ["TEAMS1", "MCOEV", "MCOMEETADV", "EXCHANGE_S_ENTERPRISE"],
    "ENTERPRISEPACK": ["TEAMS1", "EXCHANGE_S_ENTERPRISE"],
    "MCOMEETADV": ["MCOMEETADV"],
    "MCOMEETACPEA": ["MCOMEETACPEA"],
    "MCOPSTNC": ["MCOPSTNC"],
    "MCOEV": ["MCOEV"],
    "MCOPSTN1": ["MCOPSTN1"],
}
ADMIN_HEADERS = (
    "UsageId",
    "Call ID",
    "Conference ID",
    "User Location",
    "AAD ObjectId",
    "UPN",
    "User Display Name",
    "Caller ID",
    "Call Type",
    "Number Type",
    "Domestic/International",
    "Destination Dialed",
    "Destination Number",
    "Start Time",
    "End Time",
    "Duration Seconds",
    "Connection Fee",
    "Charge",
    "Currency",
    "Capability",
)
# The second month's export uses header spellings seen in the wild, in another order, plus an extra column.
ALIAS_HEADERS = {
    "Duration Seconds": "Duration (seconds)",
    "AAD ObjectId": "aad objectid",
    "Start Time": "START TIME",
    "Connection Fee": "Connection Charge",
    "Destination Dialed": "Destination Name",
}
FORMATS = ("csv", "csv_aliases", "zip", "graph_json", "graph_jsonl", "csv_bom")
FAMILY = {
    "csv": "csv",
    "csv_aliases": "csv",
    "zip": "csv",
    "csv_bom": "csv",
    "graph_json": "graph",
    "graph_jsonl": "graph",
}

# fabrikam-kr, March 2024: 3 users x 900 min = 162,000 s. Rows: (day, hour, seconds, organizer, country, number).
KR_USERS = (("kr-user-1", "MCOMEETADV;MCOPSTNC"), ("kr-user-2", "MCOMEETADV"), ("kr-user-3", "MCOMEETADV"))
KR_SCRIPT = (
    *((4 + i, 9, 7200, i % 3, "KR", f"+8221234{5600 + i:04d}") for i in range(22)),  # 22 x 7,200 s = 158,400 s
    (26, 10, 7200, 0, "JP", "+81312345678"),  # 3,600 s pooled, 3,600 s overflow -> credits (user 1)
    (27, 10, 600, 0, "VN", "+842812345678"),  # outside Zone A -> credits from the first second
    (28, 10, 300, 1, "KR", "+8221239999"),  # pool exhausted, no credits -> blocked
)


# northwind, April 2024: Calling Plans. Users: (name, usage location, SKUs).
NW_USERS = (
    ("nw-gb-1", "GB", "MCOPSTN_5"),
    ("nw-gb-2", "GB", "MCOPSTN_5;MCOPSTNC"),
    ("nw-gb-3", "GB", "MCOPSTN2"),
    ("nw-us-1", "US", "MCOPSTN1"),
    ("nw-pr-1", "PR", "MCOPSTN1"),
)
# The export's "Administrative Unit" column (the second UK user is in two units).
NW_UNITS = ("United Kingdom", "United Kingdom;Sales", "United Kingdom", "Americas", "Americas")
# Graph names a user's administrative units by id.
KR_UNIT_ID = "3b1c5a2e-7d4f-4e8a-9c6b-0f2e1d3c4b5a"
# Rows: (day, hour, seconds, user, call type, destination country, number, what Microsoft reports).
# GB MCOPSTN5 pool: 2 x 120 min = 14,400 s. GB MCOPSTN2: 1,200 min domestic, 600 min = 36,000 s
# international. US MCOPSTN1 (the US and Puerto Rico users together): 2 x 3,000 min = 360,000 s.
NW_SCRIPT = (
    (2, 9, 2400, 0, "user_out", "GB", "+442071234001", "MCOPSTN5"),
    (3, 9, 2400, 1, "user_out_transfer", "GB", "+442071234002", "MCOPSTN5"),
    (4, 9, 2400, 0, "user_out", "GB", "+447700900003", "MCOPSTN5"),  # a mobile number, still domestic
    (5, 9, 2400, 1, "user_out_forwarding", "GB", "+442071234004", "MCOPSTN5"),
    (8, 9, 2400, 0, "user_out", "GB", "+442071234005", "MCOPSTN5"),  # 12,000 s used: past 80 %
    (10, 9, 3600, 1, "user_out", "GB", "+442071234006", "MCOPSTNPP"),  # 2,400 s pooled, 1,200 s on credits
    (12, 9, 600, 0, "user_out", "GB", "+442071234007", "MCOPSTN5"),  # pool used up, no credits: blocked
    (15, 9, 300, 0, "user_out", "GB", "+448001234567", "MCOPSTN5"),  # domestic freephone: included
    (16, 9, 120, 0, "user_out", "FR", "+33142345678", "MCOPSTN5"),  # international on a domestic plan
    (17, 9, 90, 1, "user_out", "GB", "+449012345678", "MCOPSTNPP"),  # premium: credits from the first second
    (3, 11, 1200, 2, "user_out", "GB", "+442071234011", "MCOPSTN2"),
    *((day, 14, 6000, 2, "user_out", "US", f"+1202555{100 + day:04d}", "MCOPSTN2") for day in (4, 5, 8, 9, 10)),
    (11, 14, 7000, 2, "user_out", "US", "+12025550199", "MCOPSTN2"),  # 6,000 s pooled: international used up
    (12, 14, 600, 2, "user_out", "GB", "+442071234012", "MCOPSTN2"),  # domestic, but the pool is closed
    (5, 15, 1800, 4, "user_out", "US", "+12125550199", "MCOPSTN1"),  # Puerto Rico to the US: domestic
    (6, 15, 900, 3, "user_out_transfer", "PR", "+17875550123", "MCOPSTN1"),  # the US to Puerto Rico: domestic
    (7, 15, 600, 3, "user_out", "CA", "+14165550123", "MCOPSTN1"),  # the US to Canada: international
    (9, 15, 60, 3, "user_out", "US", "+19005550100", "MCOPSTN1"),  # premium, no credits: blocked
)


@dataclass(frozen=True)
class SampleSpec:
    seed: int = 7
    calls: int | None = None  # approximate call rows for the default tenant (None: the small sample)
    users: int | None = None
    months: int | None = None
    csv_only: bool = False  # only admin-center CSV, streamed day by day (always so above BIG rows)


@dataclass(frozen=True)
class User:
    index: int
    user_id: str
    upn: str
    display_name: str
    department: str
    location: str


class RateCard:
    """The export's own `Charge` column, as Microsoft states it: the rate card seed's row valid on
    the day, billable minutes = seconds rounded up to the project's billing increment, times the
    rate, plus the connection fee, to the cent. The generator stands in for Microsoft, so this is
    the published rule stated independently of the models' SQL (int_calls_priced), from the same
    seed and increment: the reconciliation mart then compares two statements, not one with itself."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[tuple[date, date | None, float, float]]] = {}
        with (SEEDS / "rate_card.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                key = (row["destination_country"], row["number_type"])
                valid_to = date.fromisoformat(row["valid_to"]) if row["valid_to"] else None
                self.rows.setdefault(key, []).append(
                    (
                        date.fromisoformat(row["valid_from"]),
                        valid_to,
                        float(row["rate_per_minute"]),
                        float(row["connection_fee"]),
                    )
                )

    def price(self, country: str, number_type: str, day: date, seconds: int) -> float:
        for valid_from, valid_to, rate, fee in self.rows[(country, number_type)]:
            if valid_from <= day and (valid_to is None or day <= valid_to):
                increment = billing_increment_seconds()
                return round(math.ceil(seconds / increment) * increment / 60 * rate + fee, 2)
        raise KeyError((country, number_type, day))


def _names() -> dict[str, str]:
    names = {}
    with (SEEDS / "countries.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            names[row["country_code"]] = (row["country_name"], row["calling_code"])
    with (SEEDS / "zone_a_countries.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            names[row["country_code"]] = (row["microsoft_name"], names[row["country_code"]][1])
    return names


def _guid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _month_starts(first: date, count: int) -> list[date]:
    out, current = [], first
    for _ in range(count):
        out.append(current)
        current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


class ContosoLicences:
    """Who holds what on a given day (changes on the 15th of the third month and the 1st of the fifth)."""

    def __init__(self, users: list[User], first_month: date) -> None:
        n = len(users)
        self.users = users
        self.e5 = range(0, round(n * 0.33))
        self.e5_credits = range(0, round(n * 0.13))
        self.standalone = range(self.e5.stop, self.e5.stop + round(n * 0.13))
        self.ppm = range(self.standalone.stop, self.standalone.stop + round(n * 0.07))
        self.added = range(self.ppm.stop, self.ppm.stop + round(n * 0.07))
        self.leavers = range(self.e5.stop - round(n * 0.03), self.e5.stop)
        self.added_on = _month_starts(first_month, 3)[2].replace(day=15)
        self.leavers_on = _month_starts(first_month, 5)[4]
        self.calling = range(n - round(n * 0.10), n)

    def skus(self, index: int, day: date) -> list[str]:
        if index in self.leavers and day >= self.leavers_on:
            return []
        skus: list[str] = []
        if index in self.e5:
            skus.append("SPE_E5")
        else:
            skus.append("ENTERPRISEPACK")
        if index in self.standalone or (index in self.added and day >= self.added_on):
            skus.append("MCOMEETADV")
        if index in self.ppm:
            skus.append("MCOMEETACPEA")
        if index in self.e5_credits or index in self.ppm:
            skus.append("MCOPSTNC")
        if index in self.calling:
            skus += ["MCOEV", "MCOPSTN1"]
        return sorted(skus)

    def has_audio_conferencing(self, index: int, day: date) -> bool:
        skus = self.skus(index, day)
        return "SPE_E5" in skus or "MCOMEETADV" in skus

    def has_credits(self, index: int, day: date) -> bool:
        return "MCOPSTNC" in self.skus(index, day)

    def is_pay_per_minute(self, index: int, day: date) -> bool:
        return "MCOMEETACPEA" in self.skus(index, day)

    def audio_conferencing_users(self, day: date) -> list[int]:
        return [u.index for u in self.users if self.has_audio_conferencing(u.index, day)]


def _allotment_seconds(day: date, tenant_country: str) -> int:
    minutes = 900 if day < date(2019, 12, 1) or tenant_country in ("RU", "KR", "TW") else 60
    return minutes * 60


class Generator:
    def __init__(self, out: Path, spec: SampleSpec, progress: bool = False) -> None:
        self.out = out
        self.spec = spec
        self.show_progress = progress
        self.rng = np.random.default_rng(spec.seed)
        self.rates = RateCard()
        self.names = _names()
        n_users = spec.users or DEFAULT_USERS
        self.users = [self._user(i) for i in range(n_users)]
        self.months = spec.months or DEFAULT_MONTHS
        self.first_month = date(2024, 1, 1)
        self.licences = ContosoLicences(self.users, self.first_month)
        self.scale = (spec.calls / self._expected_rows()) if spec.calls else 1.0
        self.big = spec.csv_only or bool(spec.calls and spec.calls > BIG)
        self.stats: dict[str, int] = {}

    def _user(self, i: int) -> User:
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        location = "GB" if i % 17 == 5 else "DE" if i % 19 == 7 else "US"
        return User(
            i,
            _guid(self.rng),
            f"{first}.{last}{i}@contoso.example".lower(),
            f"{first} {last}",
            DEPARTMENTS[i % len(DEPARTMENTS)],
            location,
        )

    def _months(self) -> list[tuple[date, int]]:
        """(first day, index) of every month written; the two 2019 months have negative indexes."""
        legacy = [(date(2019, 11, 1), -1), (date(2019, 12, 1), -2)]
        return legacy + [(m, k) for k, m in enumerate(_month_starts(self.first_month, self.months))]

    def _zone_a_mean(self, day: date, k: int) -> float:
        """Expected Zone A dial-out calls on a weekday of month k, before scaling."""
        utilisation = UTILISATION[k % len(UTILISATION)] if k >= 0 else 0.5
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        monthly_seconds = len(self.licences.audio_conferencing_users(day)) * 60 * 60
        return utilisation * monthly_seconds / MEAN_DIAL_OUT_SECONDS / (days_in_month * 0.76 * ELIGIBLE_SHARE)

    def _expected_rows(self) -> float:
        """Expected call rows at scale 1, from the same formula the generator draws from."""
        total = 0.0
        for month_start, k in self._months():
            for d in range(calendar.monthrange(month_start.year, month_start.month)[1]):
                day = month_start + timedelta(days=d)
                weekday_factor = 0.15 if day.weekday() >= 5 else 1.0
                total += self._zone_a_mean(day, k) * weekday_factor * CALLS_PER_ZONE_A_CALL
        return max(total, 1.0)

    # -- calls -------------------------------------------------------------------------------
    def _day_calls(self, day: date, n_zone_a: float, pool: dict) -> pl.DataFrame:
        """One day of the default tenant's calls with the export's own capability and charge."""
        rng, lic = self.rng, self.licences
        n_zone_a = int(rng.poisson(n_zone_a * (0.15 if day.weekday() >= 5 else 1.0)))
        counts = {
            "zone_a": n_zone_a,
            "outside": int(rng.poisson(n_zone_a * 0.10)),
            "premium": int(rng.poisson(n_zone_a * 0.03)),
            "conf_in": int(rng.poisson(n_zone_a * 0.60)),
            "other": int(rng.poisson(n_zone_a * 0.80)),
        }
        total = sum(counts.values())
        if total == 0:
            return pl.DataFrame()
        kind = np.repeat(np.array(list(counts)), list(counts.values()))
        ac_users = lic.audio_conferencing_users(day) + list(lic.ppm)
        credit_users = [u for u in ac_users if lic.has_credits(u, day)]
        meeting = np.isin(kind, ["zone_a", "outside", "premium", "conf_in"])
        toll_free_in = (kind == "conf_in") & (rng.random(total) < 0.25)
        # Calls charged from the first second mostly come from organizers who hold credits (the
        # service refuses the others); a few do not, and show up as `blocked`.
        needs_credits = np.isin(kind, ["outside", "premium"]) | toll_free_in
        zone_codes = np.array(list(ZONE_A_WEIGHTS))
        zone_p = np.array(list(ZONE_A_WEIGHTS.values()), dtype=float)
        draws = {
            "kind": kind,
            "start": np.clip(rng.normal(14 * 3600, 3 * 3600, total), 6 * 3600, 22 * 3600).astype(np.int64),
            "seconds": np.clip(rng.lognormal(math.log(MEAN_DIAL_OUT_SECONDS) - 0.32, 0.8, total), 20, 5400).astype(
                np.int64
            ),
            "organizer": np.where(
                needs_credits & (rng.random(total) < 0.95),
                rng.choice(credit_users, total),
                np.where(meeting, rng.choice(ac_users, total), rng.integers(0, len(self.users), total)),
            ),
            "country": np.where(
                kind == "zone_a",
                rng.choice(zone_codes, total, p=zone_p / zone_p.sum()),
                np.where(kind == "outside", rng.choice(np.array(OUTSIDE_ZONE_A), total), "US"),
            ),
            "premium_prefix": rng.choice(np.array(PREMIUM_PREFIXES), total),
            "mobile": rng.random(total) < 0.2,
            "masked": rng.random(total) < 0.15,
            "toll_free_in": toll_free_in,
            "spelling": rng.integers(0, len(TOLL_FREE_SPELLINGS), total),
            "other_type": rng.choice(
                np.array(
                    ["user_in", "user_out", "user_out_transfer", "ucap_in", "unassigned_in", "user_out_forwarding"]
                ),
                total,
            ),
            "conference": rng.integers(10_000_000, 99_999_999, total),
            "digits": rng.integers(10_000_000, 99_999_999, total),
            "refused": rng.random(total) < 0.9,
        }
        rows = []
        for i in np.lexsort((np.arange(total), draws["start"])):
            row = self._call_row(day, {name: values[i] for name, values in draws.items()}, pool)
            if row is not None:
                rows.append(row)
        return pl.DataFrame(rows, schema={h: pl.String for h in ADMIN_HEADERS}, orient="row")

    def _number(self, country: str, digits: int, mobile: bool) -> str:
        code = self.names[country][1]
        if not mobile:
            # Geographic numbers: a leading 2 keeps clear of the mobile, toll-free and premium
            # ranges in seeds/number_prefixes.csv (+1 2xx is a NANP geographic area code).
            return f"+{code}2{digits % 100_000_000:08d}"
        if country == "GB":
            return f"+4477{digits % 100_000_000:08d}"
        if country == "DE":
            return f"+4915{digits % 1_000_000_000:09d}"
        return f"+336{digits % 100_000_000:08d}"

    def _call_row(self, day: date, draw: dict, pool: dict) -> tuple | None:
        """One admin-center row, or None for a call the service would have refused."""
        lic = self.licences
        organizer, kind, seconds = int(draw["organizer"]), str(draw["kind"]), int(draw["seconds"])
        country, digits = str(draw["country"]), int(draw["digits"])
        user = self.users[organizer]
        start = datetime(day.year, day.month, day.day) + timedelta(seconds=int(draw["start"]))
        charge, capability, number_type = "0", "", ""
        dialled, caller = self.names[country][0], TOLL_BRIDGE
        call_type = {"zone_a": "conf_out", "outside": "conf_out", "premium": "conf_out", "conf_in": "conf_in"}.get(
            kind, str(draw["other_type"])
        )
        if call_type == "conf_out":
            if kind == "premium":
                prefix = str(draw["premium_prefix"])
                number = f"{prefix}{digits % 10_000_000:07d}"
                country = {"+1900": "US", "+4490": "GB", "+49900": "DE", "+3389": "FR"}[prefix]
                dialled, rate_type = self.names[country][0], "premium"
            else:
                mobile = bool(draw["mobile"]) and country in ("GB", "DE", "FR")
                number = self._number(country, digits, mobile)
                rate_type = "mobile" if mobile else "standard"
            if draw["masked"] and country in ("DE", "FR", "GB"):
                # Masked as some European tenants see them: the prefix and the last digits stay.
                number = number[:7] + "*" * (len(number) - 9) + number[-2:]
            if kind == "zone_a" and lic.has_audio_conferencing(organizer, day):
                pooled = max(0, min(seconds, pool["capacity"] - pool["used"]))
                overflow = seconds - pooled
                if pooled and overflow and not lic.has_credits(organizer, day):
                    # The sample wants the call that exhausts the pool to carry on past it on
                    # credits, so its organizer is one who holds them.
                    organizer = lic.e5_credits.start + digits % len(lic.e5_credits)
                    user = self.users[organizer]
                if overflow and not lic.has_credits(organizer, day) and draw["refused"]:
                    # No pool left and no credits: the service cuts the call when the pool runs
                    # out, or refuses it outright.
                    if pooled == 0:
                        return None
                    seconds, overflow = pooled, 0
                pool["used"] += pooled
                if overflow and lic.has_credits(organizer, day):
                    capability = "MCOPSTNPP"
                    charge = f"{self.rates.price(country, rate_type, day, overflow):.2f}"
                else:
                    capability = "MCOMEETADD"
            else:
                price = self.rates.price(country, rate_type, day, seconds)
                capability = "MCOMEETACPEA" if lic.is_pay_per_minute(organizer, day) else "MCOPSTNPP"
                charge = f"{price:.2f}"
        elif call_type == "conf_in":
            caller = self._number("US", digits, False)
            dialled = "United States"
            if draw["toll_free_in"]:
                number, number_type = TOLL_FREE_BRIDGE, TOLL_FREE_SPELLINGS[int(draw["spelling"])]
                capability, charge = "MCOPSTNPP", f"{self.rates.price('US', 'toll_free', day, seconds):.2f}"
            elif lic.is_pay_per_minute(organizer, day):
                number, number_type, capability = TOLL_BRIDGE, "Toll", "MCOMEETACPEA"
                charge = f"{self.rates.price('US', 'standard', day, seconds):.2f}"
            else:
                number, number_type, capability = TOLL_BRIDGE, "Toll", "MCOMEETADD"
        else:
            caller = self._number("US", digits, False)
            number = self._number("US", digits + 7, False)
            capability = "MCOPSTN1"
        number_country = "US" if number.startswith("+1") else country
        end = start + timedelta(seconds=seconds)
        return (
            _guid(self.rng),
            _guid(self.rng),
            str(draw["conference"]) if call_type.startswith("conf") else "",
            user.location,
            user.user_id,
            user.upn,
            user.display_name,
            caller,
            call_type,
            number_type,
            "Domestic" if number_country == user.location else "International",
            dialled,
            number,
            start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            str(seconds),
            "0",
            charge,
            "USD",
            capability,
        )

    def _month_calls(self, month_start: date, k: int) -> Iterator[tuple[date, pl.DataFrame]]:
        pool = {"used": 0, "capacity": 0}
        for d in range(calendar.monthrange(month_start.year, month_start.month)[1]):
            day = month_start + timedelta(days=d)
            pool["capacity"] = len(self.licences.audio_conferencing_users(day)) * _allotment_seconds(day, "US")
            frame = self._day_calls(day, self._zone_a_mean(day, k) * self.scale, pool)
            if not frame.is_empty():
                yield day, frame

    # -- writing ---------------------------------------------------------------------------
    def write(self) -> dict[str, int]:
        self.out.mkdir(parents=True, exist_ok=True)
        self._write_default_calls()
        self._write_default_licences()
        self._write_credits()
        self._write_kr()
        self._write_northwind()
        return self.stats

    def _count(self, key: str, n: int) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def _write_default_calls(self) -> None:
        cdr = self.out / "cdr"
        cdr.mkdir(parents=True, exist_ok=True)
        months = self._months()
        # A bar on a terminal, a line every few seconds in a log; quiet when it is quick. No total:
        # --calls is a target the sample reaches approximately.
        progress = Progress("generate", unit="call rows", enabled=self.show_progress)
        carry: list[pl.DataFrame] = []
        previous: tuple[date, str] | None = None
        for month_start, k in months:
            fmt = "csv" if (k < 0 or self.big) else FORMATS[k % len(FORMATS)]
            # An export overlaps the previous one by two days when both come from the same source.
            adjacent = previous is not None and _month_starts(previous[0], 2)[1] == month_start
            overlap = carry if adjacent and previous[1] == FAMILY[fmt] else []
            if self.big:
                carry = self._stream_month_csv(cdr, month_start, k, overlap, progress)
            else:
                frames: list[pl.DataFrame] = list(overlap)
                days = list(self._month_calls(month_start, k))
                for _, frame in days:
                    frames.append(frame)
                    self._count("call_rows", frame.height)
                    progress.update(frame.height)
                carry = [f for _, f in days[-2:]]
                month = pl.concat(frames) if frames else pl.DataFrame(schema={h: pl.String for h in ADMIN_HEADERS})
                if k == 0:
                    month = pl.concat([month, self._bad_rows(month)])
                self._write_export(cdr, month_start, fmt, month)
                if k == 0:
                    self._write_correction(cdr, month)
            previous = (month_start, FAMILY[fmt])
            self._count("overlap_rows", sum(f.height for f in overlap))
        progress.close()

    def _bad_rows(self, month: pl.DataFrame) -> pl.DataFrame:
        """Six rows the loader must quarantine, each with one defect, made from a real row."""
        template = month.row(0, named=True)
        bad = []
        for change in (
            {"Start Time": "2024-01-32T25:00:00Z"},
            {"End Time": "2024-01-03T08:00:00Z", "Start Time": "2024-01-03T09:00:00Z"},
            {"Duration Seconds": "-30"},
            {"UsageId": ""},
            {"User Location": "XX"},
            {"Call Type": "conf_sideways"},
        ):
            bad.append({**template, "UsageId": _guid(self.rng), **change})
        self._count("bad_rows", len(bad))
        return pl.DataFrame(bad, schema=month.schema)

    def _stream_month_csv(
        self, cdr: Path, month_start: date, k: int, overlap: list[pl.DataFrame], progress: Progress
    ) -> list[pl.DataFrame]:
        """Large sizes: every day is appended to the month's export as soon as it is made, so
        memory holds one day at a time. Returns the last two days (the next export's overlap)."""
        last_days: list[pl.DataFrame] = []
        with (cdr / f"PSTN.calls.{month_start:%Y-%m}.csv").open("w", encoding="utf-8", newline="") as handle:
            handle.write(",".join(ADMIN_HEADERS) + "\n")
            for frame in overlap:
                frame.write_csv(handle, include_header=False)
            for _, frame in self._month_calls(month_start, k):
                frame.write_csv(handle, include_header=False)
                self._count("call_rows", frame.height)
                progress.update(frame.height)
                if k == 0 and not last_days:
                    self._bad_rows(frame).write_csv(handle, include_header=False)
                last_days = [*last_days[-1:], frame]
        self._count("files_csv", 1)
        return last_days

    def _write_correction(self, cdr: Path, month: pl.DataFrame) -> None:
        """A later re-export of three January calls whose charges Microsoft corrected."""
        charged = month.filter(pl.col("Capability") == "MCOPSTNPP").head(3)
        corrected = charged.with_columns(
            (pl.col("Charge").cast(pl.Float64) + 0.25).round(2).cast(pl.String).alias("Charge")
        )
        path = cdr / "PSTN.calls.2024-01.correction.csv"
        corrected.write_csv(path)
        # Downloaded after the January export: one second newer, even on coarse file systems.
        january = (cdr / "PSTN.calls.2024-01.csv").stat().st_mtime
        os.utime(path, (january + 1, january + 1))
        self._count("corrected_rows", corrected.height)

    def _write_export(self, cdr: Path, month_start: date, fmt: str, month: pl.DataFrame) -> None:
        stem = f"PSTN.calls.{month_start:%Y-%m}"
        if fmt == "csv":
            month.write_csv(cdr / f"{stem}.csv")
        elif fmt == "csv_bom":
            (cdr / f"{stem}.csv").write_bytes(b"\xef\xbb\xbf" + month.write_csv().encode())
        elif fmt == "csv_aliases":
            renamed = month.rename(ALIAS_HEADERS).with_columns(pl.lit("Teams").alias("Workload"))
            renamed.select(sorted(renamed.columns, key=str.lower)).write_csv(cdr / f"{stem}.csv")
        elif fmt == "zip":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, payload in (
                    (f"PSTN.calls.{month_start:%Y-%m-%d}.csv", month.write_csv()),
                    ("parameters.json", json.dumps({"from": f"{month_start}", "type": "PSTN usage"})),
                ):
                    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                    archive.writestr(info, payload)
            export_id = uuid.UUID(int=self.spec.seed * 1_000_003 + month_start.toordinal())
            (cdr / f"Calls.Export.{export_id}.zip").write_bytes(buffer.getvalue())
        elif fmt in ("graph_json", "graph_jsonl"):
            records = [_graph_record(row) for row in month.iter_rows(named=True)]
            if fmt == "graph_jsonl":
                text = "\n".join(json.dumps(r) for r in records) + "\n"
                (cdr / f"getPstnCalls.{month_start:%Y-%m}.jsonl").write_text(text)
            else:
                for page, offset in enumerate(range(0, max(len(records), 1), 1000)):
                    body = {
                        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(pstnCallLogRow)",
                        "value": records[offset : offset + 1000],
                    }
                    if offset + 1000 < len(records):
                        body["@odata.nextLink"] = f"https://graph.microsoft.com/v1.0/next?page={page + 1}"
                    (cdr / f"getPstnCalls.{month_start:%Y-%m}.page{page:03d}.json").write_text(json.dumps(body))
        self._count(f"files_{fmt}", 1)

    def _snapshot_days(self) -> list[date]:
        days_of_month = (1, 15) if self.big else (1, 8, 15, 22)
        starts = [date(2019, 11, 1), date(2019, 12, 1), *_month_starts(self.first_month, self.months)]
        return [s.replace(day=d) for s in starts for d in days_of_month]

    def _write_default_licences(self) -> None:
        folder = self.out / "licenses"
        folder.mkdir(parents=True, exist_ok=True)
        graph_month = _month_starts(self.first_month, 4)[3] if self.months >= 4 and not self.big else None
        for day in self._snapshot_days():
            rows = [
                {
                    "user_id": u.user_id,
                    "user_principal_name": u.upn,
                    "display_name": u.display_name,
                    "usage_location": u.location,
                    "department": u.department,
                    "sku_part_numbers": ";".join(self.licences.skus(u.index, day)),
                    "dial_out_policy": "DialoutCPCZoneAPSTNDomestic" if u.index % 23 == 4 else "",
                }
                for u in self.users
            ]
            skus = self._sku_snapshot(day)
            if graph_month and (day.year, day.month) == (graph_month.year, graph_month.month):
                self._write_graph_licences(folder / f"graph_users_{day}.json", day, rows, skus)
            else:
                pl.DataFrame(rows).write_csv(folder / f"licences_{day}.csv")
                pl.DataFrame(skus).write_csv(folder / f"tenant_skus_{day}.csv")
            self._count("licence_snapshots", 1)

    def _sku_snapshot(self, day: date) -> list[dict]:
        assigned: dict[str, int] = {}
        for u in self.users:
            for sku in self.licences.skus(u.index, day):
                assigned[sku] = assigned.get(sku, 0) + 1
        return [
            {"sku_part_number": sku, "purchased_units": count + (count // 5) + 2, "assigned_units": count}
            for sku, count in sorted(assigned.items())
        ]

    def _write_graph_licences(self, path: Path, day: date, rows: list[dict], skus: list[dict]) -> None:
        users = [
            {
                "id": r["user_id"],
                "userPrincipalName": r["user_principal_name"],
                "displayName": r["display_name"],
                "usageLocation": r["usage_location"],
                "department": r["department"],
                "assignedLicenses": [
                    {"skuId": SKU_GUIDS[s], "disabledPlans": []} for s in r["sku_part_numbers"].split(";") if s
                ],
            }
            for r in rows
        ]
        subscribed = [
            {
                "skuId": SKU_GUIDS[s["sku_part_number"]],
                "skuPartNumber": s["sku_part_number"],
                "prepaidUnits": {"enabled": s["purchased_units"], "suspended": 0, "warning": 0},
                "consumedUnits": s["assigned_units"],
                "servicePlans": [{"servicePlanName": p} for p in SERVICE_PLANS[s["sku_part_number"]]],
            }
            for s in skus
        ]
        path.write_text(json.dumps({"snapshot_date": str(day), "users": users, "subscribedSkus": subscribed}, indent=1))

    def _write_credits(self) -> None:
        folder = self.out / "credits"
        folder.mkdir(parents=True, exist_ok=True)
        fundings = [
            {"funded_at": "2019-10-15T09:00:00Z", "amount": "600.00", "currency": "USD", "kind": "manual"},
            {"funded_at": "2023-12-15T09:00:00Z", "amount": "500.00", "currency": "USD", "kind": "manual"},
            {"funded_at": "2024-03-20T06:12:00Z", "amount": "200.00", "currency": "USD", "kind": "auto_recharge"},
            {"funded_at": "2024-05-28T14:40:00Z", "amount": "200.00", "currency": "USD", "kind": "auto_recharge"},
        ]
        pl.DataFrame(fundings).write_csv(folder / "fundings.csv")
        pl.DataFrame(
            [
                {
                    "effective_from": "2023-12-15",
                    "trigger_amount": "50.00",
                    "recharge_amount": "200.00",
                    "currency": "USD",
                    "enabled": "true",
                }
            ]
        ).write_csv(folder / "auto_recharge.csv")

    def _write_kr(self) -> None:
        tenant = "fabrikam-kr"
        (self.out / "cdr" / tenant).mkdir(parents=True, exist_ok=True)
        (self.out / "licenses" / tenant).mkdir(parents=True, exist_ok=True)
        (self.out / "credits" / tenant).mkdir(parents=True, exist_ok=True)
        users = [
            {
                "id": f"00000000-0000-4000-8000-00000000000{i + 1}",
                "userPrincipalName": f"{name}@fabrikam.example",
                "displayName": name.replace("-", " ").title(),
                "usageLocation": "KR",
                "department": "Operations",
                "assignedLicenses": [{"skuId": SKU_GUIDS[s]} for s in skus.split(";")],
            }
            for i, (name, skus) in enumerate(KR_USERS)
        ]
        subscribed = [
            {
                "skuId": SKU_GUIDS["MCOMEETADV"],
                "skuPartNumber": "MCOMEETADV",
                "prepaidUnits": {"enabled": 5},
                "consumedUnits": 3,
                "servicePlans": [{"servicePlanName": "MCOMEETADV"}],
            },
            {
                "skuId": SKU_GUIDS["MCOPSTNC"],
                "skuPartNumber": "MCOPSTNC",
                "prepaidUnits": {"enabled": 1},
                "consumedUnits": 1,
                "servicePlans": [{"servicePlanName": "MCOPSTNC"}],
            },
        ]
        (self.out / "licenses" / tenant / "users_2024-03-01.json").write_text(
            json.dumps({"users": users, "subscribedSkus": subscribed}, indent=1)
        )
        lines = []
        pool_left = 3 * 900 * 60
        for n, (day, hour, seconds, who, country, number) in enumerate(KR_SCRIPT, start=1):
            # What Microsoft's export reports: pool first, then credits (kr-user-1 holds them).
            pooled = min(seconds, pool_left) if country in ("KR", "JP") else 0
            pool_left -= pooled
            charged = seconds - pooled
            reported = (
                ("MCOMEETADD", 0.0)
                if charged == 0 or who != 0
                else ("MCOPSTNPP", self.rates.price(country, "standard", date(2024, 3, day), charged))
            )
            start = datetime(2024, 3, day, hour, 0, 0, tzinfo=UTC)
            user = users[who]
            lines.append(
                json.dumps(
                    {
                        "id": f"kr-usage-{n:03d}",
                        "callId": f"kr-call-{n:03d}",
                        "userId": user["id"],
                        "userPrincipalName": user["userPrincipalName"],
                        "userDisplayName": user["displayName"],
                        "startDateTime": start.isoformat().replace("+00:00", "Z"),
                        "endDateTime": (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
                        "duration": seconds,
                        "charge": reported[1],
                        "connectionCharge": 0,
                        "currency": "USD",
                        "callType": "conf_out",
                        "calleeNumber": number,
                        "callerNumber": "+82215550100",
                        "destinationName": self.names[country][0],
                        "destinationContext": "Domestic" if country == "KR" else "International",
                        "conferenceId": f"{70000000 + n}",
                        "licenseCapability": reported[0],
                        "inventoryType": "Service",
                        "operator": "Microsoft",
                        "callDurationSource": "microsoft",
                        "tenantCountryCode": "KR",
                        "usageCountryCode": "KR",
                        "administrativeUnitInfos": [{"id": KR_UNIT_ID}],
                    }
                )
            )
        (self.out / "cdr" / tenant / "getPstnCalls.2024-03.jsonl").write_text("\n".join(lines) + "\n")
        (self.out / "credits" / tenant / "credits.json").write_text(
            json.dumps(
                {
                    "fundings": [
                        {"funded_at": "2024-02-01T00:00:00Z", "amount": "100.00", "currency": "USD", "kind": "manual"}
                    ],
                    "auto_recharge": {
                        "trigger_amount": "10.00",
                        "recharge_amount": "50.00",
                        "currency": "USD",
                        "enabled": False,
                    },
                }
            )
        )
        self._count("kr_call_rows", len(KR_SCRIPT))

    def _write_northwind(self) -> None:
        tenant = "northwind"
        for kind in ("cdr", "licenses", "credits"):
            (self.out / kind / tenant).mkdir(parents=True, exist_ok=True)
        users = [
            {
                "user_id": f"00000000-0000-4000-9000-00000000000{i + 1}",
                "user_principal_name": f"{name}@northwind.example",
                "display_name": name.replace("-", " ").title(),
                "usage_location": location,
                "department": "Field" if location == "GB" else "Office",
                "sku_part_numbers": skus,
                "dial_out_policy": "",
            }
            for i, (name, location, skus) in enumerate(NW_USERS)
        ]
        pl.DataFrame(users).write_csv(self.out / "licenses" / tenant / "licences_2024-04-01.csv")
        rows = []

        def us(country: str) -> str:  # Puerto Rico is domestic to the US and the reverse
            return "US" if country == "PR" else country

        for n, (day, hour, seconds, who, call_type, country, number, reported) in enumerate(NW_SCRIPT, start=1):
            start = datetime(2024, 4, day, hour, 0, 0, tzinfo=UTC)
            user = users[who]
            home = us(user["usage_location"])
            # The US to Puerto Rico is labelled International, as by country code: the rule overrules it.
            label = "Domestic" if us(country) == home and country != "PR" else "International"
            charged = {6: 1200, 10: 90}.get(n, 0)  # what Microsoft charged to credits (rows 6 and 10)
            number_type = "premium" if number.startswith(("+4490", "+1900")) else "standard"
            rows.append(
                {
                    "UsageId": f"nw-usage-{n:03d}",
                    "Call ID": f"nw-call-{n:03d}",
                    "Conference ID": "",
                    "User Location": user["usage_location"],
                    "AAD ObjectId": user["user_id"],
                    "UPN": user["user_principal_name"],
                    "User Display Name": user["display_name"],
                    "Caller ID": "+442071230000" if user["usage_location"] == "GB" else "+12025550000",
                    "Call Type": call_type,
                    "Number Type": "",
                    "Domestic/International": label,
                    "Destination Dialed": self.names[country][0],
                    "Destination Number": number,
                    "Start Time": start.isoformat().replace("+00:00", "Z"),
                    "End Time": (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
                    "Duration Seconds": str(seconds),
                    "Connection Fee": "0",
                    "Charge": str(
                        self.rates.price(country, number_type, date(2024, 4, day), charged) if charged else 0
                    ),
                    "Currency": "USD",
                    "Capability": reported,
                    "Administrative Unit": NW_UNITS[who],
                }
            )
        pl.DataFrame(rows, schema={h: pl.String for h in (*ADMIN_HEADERS, "Administrative Unit")}).write_csv(
            self.out / "cdr" / tenant / "PSTN.calls.2024-04.csv"
        )
        (self.out / "credits" / tenant / "credits.json").write_text(
            json.dumps(
                {
                    "fundings": [
                        {"funded_at": "2024-04-01T00:00:00Z", "amount": "20.00", "currency": "USD", "kind": "manual"}
                    ],
                    "auto_recharge": {
                        "trigger_amount": "5.00",
                        "recharge_amount": "20.00",
                        "currency": "USD",
                        "enabled": False,
                    },
                }
            )
        )
        self._count("northwind_call_rows", len(NW_SCRIPT))


def _graph_record(row: dict) -> dict:
    """An admin-center row as Graph's pstnCallLogRow (same call, Graph's property names)."""
    return {
        "id": row["UsageId"],
        "callId": row["Call ID"],
        "userId": row["AAD ObjectId"],
        "userPrincipalName": row["UPN"],
        "userDisplayName": row["User Display Name"],
        "startDateTime": row["Start Time"],
        "endDateTime": row["End Time"],
        "duration": int(row["Duration Seconds"]),
        "charge": float(row["Charge"] or 0),
        "connectionCharge": float(row["Connection Fee"] or 0),
        "currency": row["Currency"],
        "callType": row["Call Type"],
        "calleeNumber": row["Destination Number"],
        "callerNumber": row["Caller ID"],
        "destinationName": row["Destination Dialed"],
        "destinationContext": row["Domestic/International"],
        "conferenceId": row["Conference ID"] or None,
        "licenseCapability": row["Capability"] or None,
        "inventoryType": row["Number Type"] or None,
        "operator": "Microsoft",
        "callDurationSource": "microsoft",
        "tenantCountryCode": "US",
        "usageCountryCode": row["User Location"],
    }


def generate(out: Path, spec: SampleSpec | None = None, progress: bool = False) -> dict[str, int]:
    """Write the sample; `progress` shows how far the calls are (the command line turns it on)."""
    return Generator(out, spec or SampleSpec(), progress).write()
