"""The dbt project keeps the layer, key-test, documentation and folder rules of
dbt-project-evaluator (scripts/project_rules.py), with every exception written down; and the
checker finds each kind of breach it claims to."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

import pytest

sys.path.insert(0, str(ROOT / "scripts"))
import project_rules


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    target = tmp_path_factory.mktemp("parse")
    env = {**os.environ, "PSTN_WAREHOUSE": str(target / "warehouse.duckdb")}
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [str(dbt), "parse", "--quiet", "--target-path", str(target), "--no-partial-parse"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((target / "manifest.json").read_text())


def test_project_keeps_the_rules_or_says_why(manifest: dict) -> None:
    found = project_rules.findings(manifest)
    explained = project_rules.exceptions()
    unexplained = [f for f in found if (f.rule, f.resource) not in explained]
    assert unexplained == []
    stale = set(explained) - {(f.rule, f.resource) for f in found}
    assert stale == set(), "exceptions that no longer match a finding"
    assert all(len(reason) > 40 for reason in explained.values())
    # The rules ran over the whole project, not an empty manifest.
    assert len(project_rules.Project(manifest).models) >= 40


def _model(manifest: dict, name: str) -> dict:
    return next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)


def _rules_for(manifest: dict, name: str) -> set[str]:
    return {f.rule for f in project_rules.findings(manifest) if f.resource == name}


def test_each_kind_of_breach_is_found(manifest: dict) -> None:
    broken = copy.deepcopy(manifest)
    source = next(uid for uid, s in broken["sources"].items() if s["name"] == "calls")
    mart = _model(broken, "fct_pstn_calls")["unique_id"]

    # An intermediate model reading a source and a mart.
    pool = _model(broken, "int_pool_days")
    pool["depends_on"]["nodes"] += [source, mart]
    # A staging model reading a mart and another staging model.
    staged = _model(broken, "stg_archive__loaded_files")
    staged["depends_on"]["nodes"] += [mart, _model(broken, "stg_archive__pstn_calls")["unique_id"]]
    # A mart with an undescribed column and no description, outside its folder, no prefix.
    alerts = _model(broken, "fct_alerts")
    alerts["description"] = ""
    next(iter(alerts["columns"].values()))["description"] = ""
    alerts["original_file_path"] = "models/intermediate/fct_alerts.sql"
    _model(broken, "rpt_monthly_charges")["name"] = "monthly_charges"
    # A model whose key tests are gone, and SQL naming a table instead of ref().
    allocated = _model(broken, "int_pool_allocated")["unique_id"]
    for uid, node in list(broken["nodes"].items()):
        if node["resource_type"] == "test" and node.get("attached_node") == allocated:
            del broken["nodes"][uid]
    _model(broken, "int_pool_allocated")["raw_code"] += "\nselect * from marts.fct_pstn_calls"

    assert {
        "marts_or_intermediate_dependent_on_source",
        "direct_join_to_source",
        "intermediate_dependent_on_marts",
    } <= _rules_for(broken, "int_pool_days")
    assert {"staging_dependent_on_marts_or_intermediate", "staging_dependent_on_staging"} <= _rules_for(
        broken, "stg_archive__loaded_files"
    )
    assert {"undocumented_models", "undocumented_columns", "model_directories"} <= _rules_for(broken, "fct_alerts")
    assert "model_naming_conventions" in _rules_for(broken, "monthly_charges")
    assert {"missing_primary_key_tests", "hard_coded_references"} <= _rules_for(broken, "int_pool_allocated")
    assert "source_fanout" in {f.rule for f in project_rules.findings(broken) if f.resource == "archive.calls"}
    # None of these is in the exceptions file, so the check would fail.
    assert not {("intermediate_dependent_on_marts", "int_pool_days")} & set(project_rules.exceptions())
