"""The monthly report people open: one self-contained HTML file per month, read from
the marts' Parquet exports (so it is the same on DuckDB and Spark), with inline SVG charts and
no script, font or image from the network. `pstn report [--month YYYY-MM]`; the nightly writes
one beside its exports."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path

import duckdb

from pstn.report.charts import Rule, Series, bar_chart, hbar_chart, line_chart, number

MARTS = (
    "fct_pool_consumption_daily",
    "rpt_pool_forecast",
    "rpt_monthly_pool_usage",
    "rpt_monthly_charges",
    "rpt_monthly_charges_by_department",
    "rpt_monthly_organizers",
    "rpt_monthly_destinations",
    "rpt_monthly_blocked_calls",
    "fct_pstn_calls",
    "fct_pool_alerts",
    "rpt_monthly_reconciliation",
    "fct_credits_balance_daily",
    "fct_credits_lots",
    "rpt_credits_forecast",
)
OPTIONAL = {"fct_credits_balance_daily", "fct_credits_lots", "rpt_credits_forecast", "rpt_pool_forecast"}


class ReportError(Exception):
    pass


@dataclass
class Sources:
    con: duckdb.DuckDBPyConnection
    available: set[str]

    @classmethod
    def from_exports(cls, export_dir: Path) -> Sources:
        con = duckdb.connect()
        available = set()
        for mart in MARTS:
            folder = export_dir / mart
            files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
            if files:
                paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                con.execute(f"create view {mart} as select * from read_parquet([{paths}])")
                available.add(mart)
            elif mart not in OPTIONAL:
                raise ReportError(f"{folder}: no Parquet export of {mart}; run `make run` (or `pstn build`) first")
        return cls(con, available)

    def rows(self, sql: str, *params) -> list[dict]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, *params) -> dict | None:
        found = self.rows(sql, *params)
        return found[0] if found else None


def money(value, currency: str | None = None) -> str:
    if value is None:
        return "–"
    text = f"{Decimal(value):,.2f}"
    return f"{text} {currency}" if currency else text


def minutes(value, decimals: int = 0) -> str:
    return "–" if value is None else f"{number(float(value), decimals)} min"


def month_label(day: date) -> str:
    return f"{calendar.month_name[day.month]} {day.year}"


def short_month(day: date) -> str:
    return f"{calendar.month_abbr[day.month]} {str(day.year)[2:]}"


def months_back(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), empty: str = "none") -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{escape(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def card(label: str, value: str, note: str = "", tone: str = "") -> str:
    return (
        f'<div class="card {tone}"><div class="label">{escape(label)}</div>'
        f'<div class="value" data-figure="{escape(label)}">{escape(value)}</div>'
        f'<div class="note">{escape(note)}</div></div>'
    )


# The Audio Conferencing dial-out pool; the report's cards, charts and forecast are about it, and
# the Calling Plan pools have a table of their own.
DIAL_OUT_POOL = "pool_capability = 'MCOMEETADD'"


class Report:
    def __init__(self, sources: Sources, month: date | None = None) -> None:
        self.s = sources
        latest = self.s.one("select max(billing_month) as m from rpt_monthly_pool_usage")
        if latest is None or latest["m"] is None:
            raise ReportError("the marts hold no pool month yet: nothing to report")
        self.month = month or latest["m"]
        self.month_end = date(
            self.month.year, self.month.month, calendar.monthrange(self.month.year, self.month.month)[1]
        )
        self.first_month = months_back(self.month, 11)
        if not self.tenants():
            span = self.s.one("select min(billing_month) as a, max(billing_month) as b from rpt_monthly_pool_usage")
            raise ReportError(
                f"no pool data for {self.month:%Y-%m} nor the 11 months before it "
                f"(the marts hold {span['a']:%Y-%m} to {span['b']:%Y-%m})"
            )

    def tenants(self) -> list[str]:
        rows = self.s.rows(
            "select distinct tenant_id from rpt_monthly_pool_usage where billing_month between ? and ? order by 1",
            self.first_month,
            self.month,
        )
        return [r["tenant_id"] for r in rows]

    # -- sections ---------------------------------------------------------------------------

    def key_figures(self, tenant: str) -> str:
        usage = self.s.one(
            f"select * from rpt_monthly_pool_usage where tenant_id = ? and billing_month = ? and {DIAL_OUT_POOL}",
            tenant,
            self.month,
        )
        charges = self.s.one(
            "select currency, sum(rated_charge) as credits, sum(calls) as calls from rpt_monthly_charges "
            "where tenant_id = ? and billing_month = ? and rated_capability = 'MCOPSTNPP' group by currency "
            "order by credits desc limit 1",
            tenant,
            self.month,
        )
        blocked = self.s.one(
            "select coalesce(sum(calls), 0) as calls from rpt_monthly_blocked_calls "
            "where tenant_id = ? and billing_month = ?",
            tenant,
            self.month,
        )
        cards = []
        if usage:
            pct = usage["utilization_pct"]
            tone = "alert" if pct is not None and pct >= 100 else ("warn" if pct is not None and pct >= 80 else "")
            cards.append(
                card("Pool capacity", minutes(usage["pool_minutes"]), f"{usage['licensed_users']} licensed users")
            )
            cards.append(card("Pool minutes used", minutes(usage["minutes_used"], 1), f"{pct} % of capacity", tone))
            cards.append(
                card(
                    "Pool exhausted on",
                    usage["exhausted_on"].isoformat() if usage["exhausted_on"] else "not exhausted",
                    f"overflow {minutes(usage['overflow_minutes'], 1)}",
                    "alert" if usage["exhausted_on"] else "",
                )
            )
        else:
            cards.append(card("Pool", "no calls this month"))
        # The tenant's month across every capability: its billing model and its calls rated on
        # assumed licences.
        month = self.s.one(
            "select max(billing_model) as model, coalesce(sum(licence_assumed_calls), 0) as assumed_calls "
            "from rpt_monthly_charges where tenant_id = ? and billing_month = ?",
            tenant,
            self.month,
        )
        in_arrears = bool(month) and month["model"] == "pay_as_you_go"
        assumed_calls = month["assumed_calls"] if month else 0
        cards.append(
            card(
                "Billed in arrears" if in_arrears else "Charged to credits",
                money(charges["credits"], charges["currency"]) if charges else money(0),
                f"{charges['calls'] if charges else 0} calls (MCOPSTNPP), "
                + ("pay-as-you-go" if in_arrears else "prepaid Communications Credits"),
            )
        )
        blocked_calls = blocked["calls"]
        cards.append(
            card("Blocked calls", str(blocked_calls), "no pool left and no credits", "warn" if blocked_calls else "")
        )
        assumed_days = usage["licence_assumed_days"] if usage else 0
        if assumed_calls or assumed_days:
            cards.append(
                card(
                    "Licences assumed",
                    f"{assumed_calls} call{'' if assumed_calls == 1 else 's'}",
                    f"{assumed_days} pool days before the first licence snapshot, rated on it",
                    "warn",
                )
            )
        if "fct_credits_balance_daily" in self.s.available:
            credit = self.s.one(
                "select currency, balance_date, closing_balance from fct_credits_balance_daily "
                "where tenant_id = ? and balance_date <= ? order by balance_date desc, currency limit 1",
                tenant,
                self.month_end,
            )
            if credit:
                cards.append(
                    card(
                        "Credits balance",
                        money(credit["closing_balance"], credit["currency"]),
                        f"end of {credit['balance_date']}",
                    )
                )
        return f'<div class="cards">{"".join(cards)}</div>'

    def burn_down(self, tenant: str, forecast: dict | None) -> str:
        days = self.s.rows(
            "select usage_date, day(usage_date) as d, pool_minutes, mtd_minutes_used from fct_pool_consumption_daily "
            f"where tenant_id = ? and billing_month = ? and {DIAL_OUT_POOL} order by usage_date",
            tenant,
            self.month,
        )
        if not days:
            return '<p class="empty">No pool days this month.</p>'
        last_day = self.month_end.day
        used = [(float(r["d"]), float(r["mtd_minutes_used"])) for r in days]
        capacity = [(float(r["d"]), float(r["pool_minutes"])) for r in days]
        capacity_now = float(days[-1]["pool_minutes"])
        series = [
            Series("capacity (100 %)", capacity, "red", step=True),
            Series("80 % of capacity", [(d, c * 0.8) for d, c in capacity], "amber", dashed=True, step=True),
            Series("used, month to date", used, "blue"),
        ]
        markers = []
        if forecast and not forecast["is_month_complete"]:
            start = used[-1]
            daily = float(forecast["daily_demand_minutes"])
            end_value = min(start[1] + daily * (last_day - start[0]), max(capacity_now, start[1]))
            series.append(
                Series("projected at the month-to-date rate", [start, (float(last_day), end_value)], "grey", True)
            )
        alerts = self.s.rows(
            "select threshold_pct, crossed_on, mtd_minutes_used from fct_pool_alerts "
            f"where tenant_id = ? and billing_month = ? and {DIAL_OUT_POOL} order by threshold_pct",
            tenant,
            self.month,
        )
        for alert in alerts:
            markers.append(
                (
                    float(alert["crossed_on"].day),
                    float(alert["mtd_minutes_used"]),
                    f"{alert['threshold_pct']} % on {alert['crossed_on'].strftime('%d %b')}",
                    "red" if alert["threshold_pct"] >= 100 else "amber",
                )
            )
        ticks = [(float(d), str(d)) for d in (1, 5, 10, 15, 20, 25, last_day)]
        return line_chart(
            "pool-burn-down",
            f"Dial-out pool burn-down, {month_label(self.month)}",
            f"day of {month_label(self.month)} (billing time zone)",
            "pool minutes (cumulative)",
            series,
            (1.0, float(last_day)),
            ticks,
            markers=markers,
        )

    def history(self, tenant: str) -> str:
        rows = self.s.rows(
            "select billing_month, pool_minutes, minutes_used, overflow_minutes from rpt_monthly_pool_usage "
            f"where tenant_id = ? and billing_month between ? and ? and {DIAL_OUT_POOL} order by billing_month",
            tenant,
            self.first_month,
            self.month,
        )
        by_month = {r["billing_month"]: r for r in rows}
        months = [months_back(self.month, k) for k in range(11, -1, -1)]
        used = [float(by_month[m]["minutes_used"]) if m in by_month else 0.0 for m in months]
        overflow = [float(by_month[m]["overflow_minutes"]) if m in by_month else 0.0 for m in months]
        capacity = [float(by_month[m]["pool_minutes"]) if m in by_month else None for m in months]
        return bar_chart(
            "pool-history",
            f"Twelve months of the pool, {short_month(months[0])} to {short_month(months[-1])}",
            "billing month",
            "minutes",
            [short_month(m) for m in months],
            [("pool minutes used", used, "blue"), ("overflow past the pool", overflow, "orange")],
            line=("capacity", capacity, "red"),
        )

    def charges(self, tenant: str) -> str:
        rows = self.s.rows(
            "select rated_capability, coalesce(charge_reason, '(none)') as reason, currency, sum(calls) as calls, "
            "sum(billable_minutes) as minutes, sum(rated_charge) as charge, sum(reported_charge) as reported "
            "from rpt_monthly_charges where tenant_id = ? and billing_month = ? group by all order by 1, 2",
            tenant,
            self.month,
        )
        currency = next((r["currency"] for r in rows if r["currency"]), "")
        capability: dict[str, float] = {}
        reason: dict[str, float] = {}
        for r in rows:
            capability[r["rated_capability"]] = capability.get(r["rated_capability"], 0.0) + float(r["calls"])
            if r["charge"]:
                reason[r["reason"]] = reason.get(r["reason"], 0.0) + float(r["charge"])
        departments = self.s.rows(
            "select coalesce(department, '(no department)') as department, sum(rated_charge) as charge "
            "from rpt_monthly_charges_by_department where tenant_id = ? and billing_month = ? "
            "group by 1 order by charge desc nulls last limit 10",
            tenant,
            self.month,
        )
        destinations = self.s.rows(
            "select coalesce(destination_country, '??') as country, rated_charge as charge "
            "from rpt_monthly_destinations where tenant_id = ? and billing_month = ? and destination_rank <= 10 "
            "order by destination_rank",
            tenant,
            self.month,
        )
        unit = f"charge ({currency})" if currency else "charge"
        parts = [
            hbar_chart(
                "calls-by-capability",
                "Calls by rated capability",
                "calls",
                sorted(capability.items(), key=lambda kv: -kv[1]),
                "teal",
                0,
            ),
            hbar_chart(
                "charges-by-reason",
                "Credits charges by reason",
                unit,
                sorted(reason.items(), key=lambda kv: -kv[1]),
                "orange",
            ),
            hbar_chart(
                "charges-by-department",
                "Credits charges by department (top 10)",
                unit,
                [(r["department"], float(r["charge"] or 0)) for r in departments],
                "purple",
            ),
            hbar_chart(
                "charges-by-destination",
                "Credits charges by destination country (top 10)",
                unit,
                [(r["country"], float(r["charge"])) for r in destinations],
                "blue",
            ),
        ]
        detail = table(
            ["capability", "reason", "calls", "billable minutes", "rated charge", "reported charge"],
            [
                [
                    r["rated_capability"],
                    r["reason"],
                    str(r["calls"]),
                    number(float(r["minutes"] or 0), 0),
                    money(r["charge"], r["currency"]),
                    money(r["reported"], r["currency"]),
                ]
                for r in rows
            ],
            numeric={2, 3, 4, 5},
        )
        return f'<div class="grid">{"".join(parts)}</div>{detail}'

    def organizers(self, tenant: str) -> str:
        rows = self.s.rows(
            "select organizer, coalesce(department, '') as department, calls, minutes, pooled_minutes as pooled, "
            "rated_charge as charge, currency from rpt_monthly_organizers "
            "where tenant_id = ? and billing_month = ? and organizer_rank <= 10 order by organizer_rank",
            tenant,
            self.month,
        )
        return table(
            ["organizer", "department", "calls", "minutes", "pool minutes", "rated charge"],
            [
                [
                    r["organizer"],
                    r["department"],
                    str(r["calls"]),
                    number(float(r["minutes"]), 0),
                    number(float(r["pooled"]), 0),
                    money(r["charge"], r["currency"]),
                ]
                for r in rows
            ],
            numeric={2, 3, 4, 5},
            empty="No conference calls this month.",
        )

    def blocked(self, tenant: str) -> str:
        summary = self.s.rows(
            "select coalesce(charge_reason, '(none)') as reason, calls, minutes from rpt_monthly_blocked_calls "
            "where tenant_id = ? and billing_month = ? order by calls desc, reason",
            tenant,
            self.month,
        )
        calls = self.s.rows(
            "select start_at, coalesce(user_principal_name, user_id) as organizer, destination_country, "
            "duration_seconds, charge_reason from fct_pstn_calls where tenant_id = ? and billing_month = ? "
            "and is_blocked order by start_at limit 15",
            tenant,
            self.month,
        )
        return table(
            ["reason", "calls", "minutes"],
            [[r["reason"], str(r["calls"]), number(float(r["minutes"]), 1)] for r in summary],
            numeric={1, 2},
            empty="No blocked calls this month.",
        ) + table(
            ["start (UTC)", "organizer", "destination", "seconds", "reason"],
            [
                [
                    r["start_at"].strftime("%Y-%m-%d %H:%M"),
                    r["organizer"] or "",
                    r["destination_country"] or "",
                    str(r["duration_seconds"]),
                    r["charge_reason"] or "",
                ]
                for r in calls
            ],
            numeric={3},
            empty="",
        )

    def calling_plan_pools(self, tenant: str) -> str:
        """Every Calling Plan pool of the tenant's month: a row per plan, country and minute type
        (MCOPSTN8 per user), with its capacity, use, the day it ran out and what went past it."""
        rows = self.s.rows(
            "select pool_capability, coalesce(pool_country, '') as country, minute_type, "
            "coalesce(pool_user_id, '') as pool_user, licensed_users, pool_minutes, minutes_used, utilization_pct, "
            "exhausted_on, overflow_minutes from rpt_monthly_pool_usage "
            f"where tenant_id = ? and billing_month = ? and not {DIAL_OUT_POOL} "
            "order by pool_capability, country, minute_type, pool_user",
            tenant,
            self.month,
        )
        return table(
            ["plan", "country", "minutes", "user", "users", "capacity", "used", "utilisation", "ran out on", "past it"],
            [
                [
                    r["pool_capability"],
                    r["country"],
                    r["minute_type"],
                    r["pool_user"],
                    str(r["licensed_users"]),
                    minutes(r["pool_minutes"]),
                    minutes(r["minutes_used"], 1),
                    "" if r["utilization_pct"] is None else f"{r['utilization_pct']} %",
                    r["exhausted_on"].isoformat() if r["exhausted_on"] else "",
                    minutes(r["overflow_minutes"], 1),
                ]
                for r in rows
            ],
            numeric={4, 5, 6, 7, 9},
            empty="No user held a Calling Plan this month.",
        )

    def pool_forecast_row(self, tenant: str) -> dict | None:
        """The tenant's pool forecast for the report month, if the mart was exported."""
        if "rpt_pool_forecast" not in self.s.available:
            return None
        return self.s.one(
            f"select * from rpt_pool_forecast where tenant_id = ? and billing_month = ? and {DIAL_OUT_POOL}",
            tenant,
            self.month,
        )

    def pool_forecast(self, f: dict | None) -> str:
        if "rpt_pool_forecast" not in self.s.available:
            return ""
        if not f:
            return '<p class="empty">The forecast covers a tenant\'s latest month only.</p>'
        if f["is_month_complete"]:
            lead = f"The month is complete (as of {f['as_of_date']}): the figures are the actuals."
        else:
            lead = (
                f"As of {f['as_of_date']} (day {f['days_elapsed']} of {f['days_in_month']}), pool-eligible demand "
                f"runs at {minutes(f['daily_demand_minutes'], 1)} a day."
            )
        rows = [
            ["projected demand this month", minutes(f["projected_demand_minutes"], 1)],
            ["capacity", minutes(f["pool_minutes"])],
            ["projected utilisation", f"{f['projected_utilization_pct']} %"],
            [
                "pool runs out",
                str(f["projected_exhaustion_date"] or "not this month"),
            ],
            ["projected overflow", minutes(f["projected_overflow_minutes"], 1)],
            ["credit rate of a pooled minute", f"{f['credit_rate_per_minute'] or '–'} {f['currency'] or ''}"],
            ["overflow cost so far", money(f["overflow_cost_to_date"], f["currency"])],
            ["projected overflow cost this month", money(f["projected_overflow_cost"], f["currency"])],
        ]
        return f"<p>{escape(lead)}</p>" + table(["figure", "value"], rows, numeric={1})

    def credits(self, tenant: str) -> str:
        if "fct_credits_balance_daily" not in self.s.available:
            return '<p class="empty">No credits file was supplied: no ledger.</p>'
        ledgers = self.s.rows("select * from rpt_credits_forecast where tenant_id = ? order by currency", tenant)
        if not ledgers:
            return '<p class="empty">No credits file for this tenant: no ledger.</p>'
        out = []
        for f in ledgers:
            cur = f["currency"]
            days = self.s.rows(
                "select balance_date, closing_balance, funded_amount + simulated_recharge_amount as added, "
                "forfeited_amount from fct_credits_balance_daily where tenant_id = ? and currency = ? "
                "and balance_date between ? and ? order by balance_date",
                tenant,
                cur,
                self.first_month,
                self.month_end,
            )
            if days:
                start = days[0]["balance_date"]
                total = (days[-1]["balance_date"] - start).days or 1
                points = [(float((d["balance_date"] - start).days), float(d["closing_balance"])) for d in days]
                markers = [
                    (
                        float((d["balance_date"] - start).days),
                        float(d["closing_balance"]),
                        f"-{d['forfeited_amount']}",
                        "red",
                    )
                    for d in days
                    if d["forfeited_amount"] > 0
                ]
                ticks = []
                for k in range(0, 13):
                    m = months_back(self.month, 11 - k) if k < 12 else None
                    if m and m >= start and (m - start).days <= total:
                        ticks.append((float((m - start).days), short_month(m)))
                rules = []
                if f["auto_recharge_enabled"] and f["trigger_amount"] is not None:
                    rules.append(
                        Rule(float(f["trigger_amount"]), f"auto-recharge trigger {f['trigger_amount']}", "amber")
                    )
                out.append(
                    line_chart(
                        f"credits-balance-{cur.lower()}",
                        f"Communications Credits balance ({cur}), end of day",
                        "day",
                        f"balance ({cur})",
                        [Series("balance", points, "green", step=True)],
                        (0.0, float(total)),
                        ticks,
                        rules=rules,
                        markers=markers,
                    )
                )
            zero = (
                f"{f['projected_zero_date']} ({f['days_until_zero']} days; {f['zero_reason']})"
                if f["projected_zero_date"]
                else f"not within {f['forecast_horizon_days']} days"
            )
            rows = [
                ["balance", money(f["balance"], cur) + f" on {f['as_of_date']}"],
                [f"daily burn (last {f['burn_rate_days']} days)", money(f["daily_burn_rate"], cur)],
                ["balance reaches zero without a recharge", zero],
                [
                    "auto-recharge",
                    f"on: below {money(f['trigger_amount'], cur)} add {money(f['recharge_amount'], cur)}"
                    if f["auto_recharge_enabled"]
                    else "off",
                ],
                [
                    f"recharges in the next {f['forecast_horizon_days']} days as configured",
                    f"{f['projected_recharges_as_configured']} "
                    f"({money(f['projected_recharge_amount_as_configured'], cur)})",
                ],
                ["next expiry of unused funds", str(f["next_expiry_date"] or "none")],
                ["unused funds expiring within 90 days", money(f["remaining_expiring_within_90_days"], cur)],
                ["recommended trigger", money(f["recommended_trigger_amount"], cur)],
                ["recommended recharge", money(f["recommended_recharge_amount"], cur)],
                [
                    "why",
                    f"{f['recommendation_basis']}; monthly spend p95 {money(f['monthly_spend_p95'], cur)}, mean "
                    f"{money(f['monthly_spend_mean'], cur)} over {f['months_observed']} months; daily p95 "
                    f"{money(f['daily_spend_p95'], cur)} x {f['trigger_cover_days']} days",
                ],
            ]
            out.append(table([f"outlook as of the latest day built ({f['as_of_date']})", "value"], rows))
            month_totals = self.s.one(
                "select sum(funded_amount) as funded, sum(simulated_recharge_amount) as simulated, "
                "sum(forfeited_amount) as forfeited, sum(charges) as charges, sum(unfunded_amount) as unfunded "
                "from fct_credits_balance_daily where tenant_id = ? and currency = ? and billing_month = ?",
                tenant,
                cur,
                self.month,
            )
            if month_totals and month_totals["charges"] is not None:
                out.append(
                    table(
                        ["this month", "funded", "auto-recharge (simulated)", "forfeited", "charged", "unfunded"],
                        [
                            [
                                month_label(self.month),
                                money(month_totals["funded"], cur),
                                money(month_totals["simulated"], cur),
                                money(month_totals["forfeited"], cur),
                                money(month_totals["charges"], cur),
                                money(month_totals["unfunded"], cur),
                            ]
                        ],
                        numeric={1, 2, 3, 4, 5},
                    )
                )
        return "".join(out)

    def reconciliation(self, tenant: str) -> str:
        rows = self.s.rows(
            "select * from rpt_monthly_reconciliation where tenant_id = ? and billing_month = ? order by currency",
            tenant,
            self.month,
        )
        return table(
            [
                "currency",
                "calls compared",
                "calls differing",
                "rated",
                "reported by Microsoft",
                "difference",
                "verdict",
            ],
            [
                [
                    r["currency"] or "",
                    str(r["calls_compared"]),
                    str(r["calls_with_discrepancy"]),
                    money(r["rated_charge"]),
                    money(r["reported_charge"]),
                    money(r["charge_difference"]),
                    "within tolerance" if r["is_within_tolerance"] else "differs: see fct_charge_discrepancies",
                ]
                for r in rows
            ],
            numeric={1, 2, 3, 4, 5},
            empty="The exports carried no charges to compare this month.",
        )

    # -- page -------------------------------------------------------------------------------

    def tenant_section(self, tenant: str) -> str:
        forecast = self.pool_forecast_row(tenant)
        sections = [
            ("Key figures", self.key_figures(tenant)),
            (
                "Pool burn-down and twelve months",
                f'<div class="grid">{self.burn_down(tenant, forecast)}{self.history(tenant)}</div>',
            ),
            ("Pool forecast", self.pool_forecast(forecast)),
            ("Calling Plan pools", self.calling_plan_pools(tenant)),
            ("Charges", self.charges(tenant)),
            ("Top organizers", self.organizers(tenant)),
            ("Blocked calls", self.blocked(tenant)),
            ("Communications Credits", self.credits(tenant)),
            ("Reconciliation with Microsoft's charges", self.reconciliation(tenant)),
        ]
        body = "".join(f"<h3>{escape(title)}</h3>{html}" for title, html in sections)
        return f'<section class="tenant" id="tenant-{escape(tenant)}"><h2>Tenant {escape(tenant)}</h2>{body}</section>'

    def html(self) -> str:
        tenants = self.tenants()
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        toc = "".join(f'<li><a href="#tenant-{escape(t)}">{escape(t)}</a></li>' for t in tenants)
        body = "".join(self.tenant_section(t) for t in tenants)
        title = f"Teams PSTN monthly report, {month_label(self.month)}"
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style></head>
<body><header><h1>{escape(title)}</h1>
<p>Audio Conferencing dial-out pool (MCOMEETADD), Communications Credits (MCOPSTNPP), blocked calls and
reconciliation, per tenant. Month {self.month.isoformat()} to {self.month_end.isoformat()}; generated {generated}.
Pool minutes are counted in seconds and shown in minutes; money in the rate card's currency.</p>
<nav><ul>{toc}</ul></nav></header>
<main>{body}</main>
<footer>Built by the teams-pstn-analytics pipeline from its marts. Charges are rated from the rate card
(sample rates unless replaced); the reconciliation compares them with the charges in Microsoft's exports.</footer>
</body></html>
"""


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;background:#f3f4f6}
header,main,footer{max-width:1340px;margin:0 auto;padding:12px 24px}
header{background:#1e3a8a;color:#fff;max-width:none}header p{max-width:1100px;opacity:.9}
header nav ul{list-style:none;padding:0;display:flex;gap:12px}header a{color:#bfdbfe}
h1{margin:8px 0}h2{border-bottom:2px solid #1e3a8a;padding-bottom:4px}h3{margin-top:24px;color:#1e3a8a}
.tenant{background:#fff;border-radius:8px;padding:8px 20px 20px;margin:16px 0;box-shadow:0 1px 3px #0002}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #e5e7eb;border-radius:6px;padding:10px 14px;min-width:170px;background:#f9fafb}
.card .label{font-size:12px;color:#6b7280}.card .value{font-size:22px;font-weight:600}
.card .note{font-size:12px;color:#6b7280}.card.warn{border-left:4px solid #d97706}
.card.alert{border-left:4px solid #dc2626}
.grid{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid #e5e7eb;border-radius:6px;max-width:100%;height:auto}
table{border-collapse:collapse;margin:10px 0;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left}th{background:#f3f4f6}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#6b7280;font-style:italic}footer{font-size:12px;color:#6b7280}
@media print{body{background:#fff}.tenant{box-shadow:none;page-break-after:always}}
"""


def parse_month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError as error:
        raise ReportError(f"--month must be YYYY-MM, not {text!r}") from error


def write_report(export_dir: Path, out: Path | None, month: date | None = None) -> Path:
    """Render the report from `export_dir` into `out` (a file, or a folder to name it in)."""
    report = Report(Sources.from_exports(export_dir), month)
    if out is None or out.suffix.lower() != ".html":
        folder = out or export_dir.parent / "reports"
        out = folder / f"pstn-report-{report.month:%Y-%m}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(report.html(), encoding="utf-8")
    partial.replace(out)
    return out
