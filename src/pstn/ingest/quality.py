"""Validation at the boundary: one set of rules per dataset, evaluated on every row of every batch
(a file or zip member) before it enters the archive; failing rows are named by `_line` and
quarantined with the rule's reason. The same rules are a Great Expectations suite that validates
each load (every row, or above `PSTN_GX_FULL_ROWS` a sample holding the failing rows) and must
agree; its results are kept in a file-backed GX project whose Data Docs a person can open."""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pstn.ingest import reference
from pstn.ingest.rawfile import LINE

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

BATCH = "_batch"  # which batch (file or zip member) of the load a sampled row comes from
ROW_ID = "_row"  # batch * LINE_SPAN + line: the row's name in Great Expectations' results
LINE_SPAN = 10**10
# Great Expectations keeps module-level state (its YAML handler) that is not safe to use from two
# threads at once: every use of a GX project holds this lock.
_GX_LOCK = threading.RLock()


class ValidationDisagreement(RuntimeError):
    """Great Expectations flagged a row the loader's rules did not: the rules have a defect."""


@dataclass(frozen=True)
class Rule:
    """One expectation and the reason a failing row is quarantined for."""

    kind: str  # not_null | in_set | between | pair_ge | unique | compound_unique
    column: str | tuple[str, ...]
    reason: str
    value_set: frozenset[str] | None = None
    min_value: float | None = None
    strict_min: bool = False


def _country_rules(*columns: str) -> list[Rule]:
    return [Rule("in_set", c, "unknown country code", value_set=reference.country_codes()) for c in columns]


def suites() -> dict[str, list[Rule]]:
    """Expectations per dataset."""
    currency = reference.currency_codes()
    return {
        "calls": [
            Rule("not_null", "usage_id", "missing UsageId"),
            Rule("not_null", "start_at", "missing Start Time"),
            Rule("not_null", "end_at", "missing End Time"),
            Rule("not_null", "duration_seconds", "missing Duration Seconds"),
            Rule("not_null", "call_type", "missing Call Type"),
            Rule("between", "duration_seconds", "negative duration", min_value=0),
            Rule("pair_ge", ("end_at", "start_at"), "end before start"),
            Rule("in_set", "call_type", "unknown call type", value_set=reference.CALL_TYPES),
            Rule("in_set", "capability", "unknown capability", value_set=reference.CAPABILITIES),
            Rule("in_set", "currency", "unknown currency (not ISO 4217)", value_set=currency),
            *_country_rules("user_location", "tenant_country_code", "usage_country_code", "other_party_country_code"),
            Rule("unique", "usage_id", "UsageId repeated in the same file with different content"),
        ],
        "licence_users": [
            Rule("not_null", "snapshot_date", "missing snapshot date"),
            Rule("not_null", "user_key", "missing user_id"),
            *_country_rules("usage_location"),
            Rule("compound_unique", ("snapshot_date", "user_key"), "user repeated in the same snapshot"),
        ],
        "tenant_skus": [
            Rule("not_null", "snapshot_date", "missing snapshot date"),
            Rule("not_null", "sku_part_number", "missing sku_part_number"),
            Rule("not_null", "purchased_units", "missing purchased_units"),
            Rule("between", "purchased_units", "negative purchased_units", min_value=0),
            Rule("between", "assigned_units", "negative assigned_units", min_value=0),
            Rule("compound_unique", ("snapshot_date", "sku_part_number"), "SKU repeated in the same snapshot"),
        ],
        "credit_fundings": [
            Rule("not_null", "funded_at", "missing funded_at"),
            Rule("not_null", "amount", "missing amount"),
            Rule("not_null", "currency", "missing currency"),
            Rule("between", "amount", "amount must be positive", min_value=0, strict_min=True),
            Rule("in_set", "currency", "unknown currency (not ISO 4217)", value_set=currency),
            Rule("in_set", "kind", "kind must be manual or auto_recharge", value_set=reference.CREDIT_KINDS),
        ],
        "credit_settings": [
            Rule("not_null", "trigger_amount", "missing trigger_amount"),
            Rule("not_null", "recharge_amount", "missing recharge_amount"),
            Rule("between", "trigger_amount", "negative trigger_amount", min_value=0),
            Rule("between", "recharge_amount", "recharge_amount must be positive", min_value=0, strict_min=True),
            Rule("in_set", "currency", "unknown currency (not ISO 4217)", value_set=currency),
        ],
    }


def _expectation(rule: Rule):
    import great_expectations as gx

    meta = {"reason": rule.reason}
    if rule.kind == "not_null":
        return gx.expectations.ExpectColumnValuesToNotBeNull(column=rule.column, meta=meta)
    if rule.kind == "in_set":
        return gx.expectations.ExpectColumnValuesToBeInSet(
            column=rule.column, value_set=sorted(rule.value_set or ()), meta=meta
        )
    if rule.kind == "between":
        return gx.expectations.ExpectColumnValuesToBeBetween(
            column=rule.column, min_value=rule.min_value, strict_min=rule.strict_min, meta=meta
        )
    if rule.kind == "pair_ge":
        a, b = rule.column
        return gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing", meta=meta
        )
    # One GX batch holds a sample of every file of a load, and "repeated" means repeated within
    # a file: the batch column is part of every uniqueness expectation.
    if rule.kind == "unique":
        return gx.expectations.ExpectCompoundColumnsToBeUnique(
            column_list=[BATCH, rule.column], ignore_row_if="any_value_is_missing", meta=meta
        )
    if rule.kind == "compound_unique":
        return gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=[BATCH, *rule.column], meta=meta)
    raise ValueError(rule.kind)


def _columns(rule: Rule) -> tuple[str, ...]:
    return rule.column if isinstance(rule.column, tuple) else (rule.column,)


def _failing(rule: Rule) -> pl.Expr:
    """The rule as a polars predicate that is true on a failing row (GX's semantics: value
    expectations skip nulls; uniqueness flags every occurrence of a repeated value)."""
    if rule.kind == "not_null":
        return pl.col(rule.column).is_null()
    if rule.kind == "in_set":
        column = pl.col(rule.column)
        return column.is_not_null() & ~column.cast(pl.String).is_in(sorted(rule.value_set or ()))
    if rule.kind == "between":
        column = pl.col(rule.column)
        return column.is_not_null() & ((column <= rule.min_value) if rule.strict_min else (column < rule.min_value))
    if rule.kind == "pair_ge":
        a, b = (pl.col(c) for c in rule.column)
        return a.is_not_null() & b.is_not_null() & (a < b)
    if rule.kind == "unique":
        return pl.col(rule.column).is_not_null() & pl.col(rule.column).is_duplicated()
    if rule.kind == "compound_unique":
        return pl.struct(*rule.column).is_duplicated()
    raise ValueError(rule.kind)


def quiet_gx():
    """great_expectations, imported with its logging, warnings and progress bars turned down."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="great_expectations")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    return gx


class Validator:
    """A file-backed GX project under `gx_dir`, one checkpoint per dataset."""

    def __init__(self, gx_dir: Path, full_rows: int | None = None) -> None:
        self.full_rows = full_rows or int(os.environ.get("PSTN_GX_FULL_ROWS", "20000"))
        self.rules = suites()
        self._checkpoints: dict[str, object] = {}
        self._new_results: list = []  # this load's validation results, whose Data Docs pages are not written yet
        # Importing Great Expectations and opening its project takes seconds; it happens on a
        # thread while the loader reads the files (polars and DuckDB release the GIL).
        self._ready: Future = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gx").submit(self._open, gx_dir)

    def _open(self, gx_dir: Path) -> None:
        with _GX_LOCK:
            self._open_project(gx_dir)

    def _open_project(self, gx_dir: Path) -> None:
        gx = quiet_gx()
        self._gx = gx
        gx_dir.mkdir(parents=True, exist_ok=True)
        self.context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:
            pass
        self.source = self.context.data_sources.add_or_update_pandas("pstn_raw_batches")

    def _opened(self) -> None:
        self._ready.result()  # re-raises what opening the project raised

    def _checkpoint(self, dataset: str):
        if dataset in self._checkpoints:
            return self._checkpoints[dataset]
        self._opened()
        gx = self._gx
        try:
            asset = self.source.get_asset(dataset)
        except LookupError:
            asset = self.source.add_dataframe_asset(dataset)
        try:
            batch = asset.get_batch_definition("each_raw_file")
        except (KeyError, LookupError, ValueError):
            batch = asset.add_batch_definition_whole_dataframe("each_raw_file")
        suite = gx.ExpectationSuite(name=f"{dataset}_boundary")
        for rule in self.rules[dataset]:
            suite.add_expectation(_expectation(rule))
        suite = self.context.suites.add_or_update(suite)
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{dataset}_each_raw_file", data=batch, suite=suite)
        )
        checkpoint = self.context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{dataset}_boundary",
                validation_definitions=[definition],
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_ID]},
            )
        )
        self._checkpoints[dataset] = checkpoint
        return checkpoint

    def failures(self, dataset: str, frame: pl.DataFrame) -> dict[int, list[tuple[str, str]]]:
        """{line: [(first column of the rule, reason with the offending value)]} for every row of
        one batch (a file or zip member), by the dataset's rules evaluated in polars."""
        failures: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for rule in self.rules[dataset]:
            names = list(_columns(rule))
            hits = frame.filter(_failing(rule)).select(LINE, *(pl.col(c).cast(pl.String) for c in names))
            for row in hits.iter_rows():
                shown = ", ".join(v for v in row[1:] if v is not None)
                failures[int(row[0])].append((names[0], f"{rule.reason} ({shown})" if shown else rule.reason))
        return failures

    def sample(self, dataset: str, frame: pl.DataFrame, failing: set[tuple[int, int]], batch: int) -> pl.DataFrame:
        """The part of a batch Great Expectations will see: the rule columns, tagged with `batch`,
        within the budget (see `merge`)."""
        columns = sorted({c for rule in self.rules[dataset] for c in _columns(rule)})
        view = frame.select(LINE, *columns).with_columns(pl.lit(batch, dtype=pl.Int64).alias(BATCH))
        return self.merge([view], failing)

    def merge(self, samples: list[pl.DataFrame], failing: set[tuple[int, int]]) -> pl.DataFrame:
        """Samples within the budget of `full_rows` rows: every row when they fit, else the
        failing (batch, line) rows first (up to half) and a deterministic sample of the others."""
        merged = pl.concat(samples, how="vertical")
        if merged.height <= self.full_rows:
            return merged
        keys = pl.DataFrame(list(failing), schema={BATCH: pl.Int64, LINE: pl.Int64}, orient="row")
        bad = merged.join(keys, on=[BATCH, LINE], how="semi").head(self.full_rows // 2)
        good = merged.join(keys, on=[BATCH, LINE], how="anti")
        return pl.concat([bad, good.sample(n=self.full_rows - bad.height, seed=0)], how="vertical")

    def check_load(
        self, dataset: str, sample: pl.DataFrame, failing: set[tuple[int, int]], names: dict[int, str], run: str
    ) -> None:
        """Great Expectations validates one load's sample of a dataset (every row of a load up to
        `full_rows` rows) and must find nothing the row-by-row rules missed; its results are kept
        for the Data Docs. A disagreement is a defect in the rules: the load stops before it
        commits, naming the file, the line and the expectation."""
        found = self._gx_failures(dataset, sample, run)
        missed = sorted(key for key in found if key not in failing)
        if missed:
            batch, line = missed[0]
            raise ValidationDisagreement(
                f"Great Expectations rejects {len(missed)} {dataset} row(s) the loader's rules keep, "
                f"first {names.get(batch, batch)} line {line}: {'; '.join(found[missed[0]])}"
            )

    def _gx_failures(self, dataset: str, frame: pl.DataFrame, run: str) -> dict[tuple[int, int], list[str]]:
        """{(batch, line): [reasons]} as Great Expectations finds them."""
        pandas_frame = frame.with_columns((pl.col(BATCH) * LINE_SPAN + pl.col(LINE)).alias(ROW_ID)).to_pandas()
        self._opened()  # before taking the lock: the opening thread needs it
        with _GX_LOCK:
            result = self._checkpoint(dataset).run(
                batch_parameters={"dataframe": pandas_frame},
                run_id=self._gx.RunIdentifier(run_name=re.sub(r"[/\\]", "__", run)[-200:]),
            )
        self._new_results.extend(result.run_results.keys())
        failures: dict[tuple[int, int], list[str]] = defaultdict(list)
        for validation in result.run_results.values():
            for outcome in validation.results:
                if outcome.success:
                    continue
                if outcome.exception_info and outcome.exception_info.get("raised_exception"):
                    raise RuntimeError(f"expectation failed to run: {outcome.exception_info.get('exception_message')}")
                reason = outcome.expectation_config.meta["reason"]
                for hit in outcome.result.get("unexpected_index_list") or []:
                    batch, line = divmod(int(hit[ROW_ID]), LINE_SPAN)
                    failures[(batch, line)].append(reason)
        return failures

    def build_docs(self) -> str | None:
        """The Data Docs pages of this load's validation results, and the index. Only the new
        pages: rebuilding every result's page each load would cost more with every night kept."""
        self._opened()
        with _GX_LOCK:
            self.context.build_data_docs(resource_identifiers=self._new_results or None)
            self._new_results = []
            sites = self.context.get_docs_sites_urls()
        return sites[0]["site_url"] if sites else None


def expectation_columns(config) -> list[str]:
    kwargs = config.kwargs
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_list" in kwargs:
        return list(kwargs["column_list"])
    return [kwargs.get("column_A"), kwargs.get("column_B")]
