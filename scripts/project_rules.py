"""Check the dbt project against the layer, testing, documentation and structure rules of
dbt-project-evaluator, read from dbt's manifest (no dbt package needed).

    python scripts/project_rules.py [target/manifest.json]

Prints one line per finding (`rule  resource  detail`), marks the findings that
`project_rules_exceptions.csv` explains, and exits 1 when a finding is unexplained or an
exception no longer matches anything. `dbt parse` writes the manifest.

The rules and their defaults (fan-out 3 leaf children, 7 joins, prefixes stg_/int_/fct_/dim_/rpt_,
folders staging/intermediate/marts) are the evaluator's; the time spine is exempt from naming and
root-model rules there as here.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCEPTIONS = ROOT / "project_rules_exceptions.csv"

PREFIX_TYPES = {
    "stg_": "staging",
    "base_": "base",
    "int_": "intermediate",
    "fct_": "marts",
    "dim_": "marts",
    "rpt_": "other",
}
FOLDER_TYPES = {"staging": "staging", "base": "base", "intermediate": "intermediate", "marts": "marts"}
FANOUT_THRESHOLD = 3
TOO_MANY_JOINS = 7
PRIMARY_KEY_TESTS = ({"unique", "not_null"}, {"unique_combination_of_columns"})
HARD_CODED = re.compile(r"\b(?:from|join)\s+(?!\{\{)([A-Za-z_][\w]*\.[A-Za-z_][\w.]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    rule: str
    resource: str
    detail: str = ""


class Project:
    def __init__(self, manifest: dict):
        name = manifest["metadata"].get("project_name")
        self.nodes = {uid: node for uid, node in manifest["nodes"].items() if node.get("package_name") == name}
        self.sources = {uid: src for uid, src in manifest["sources"].items() if src.get("package_name") == name}
        self.models = {uid: n for uid, n in self.nodes.items() if n["resource_type"] == "model"}
        self.tests = {uid: n for uid, n in self.nodes.items() if n["resource_type"] == "test"}
        self.parents: dict[str, set[str]] = {}
        self.children: dict[str, set[str]] = defaultdict(set)
        for uid, node in self.nodes.items():
            if node["resource_type"] not in ("model", "seed", "snapshot"):
                continue
            ups = {p for p in node["depends_on"].get("nodes", []) if p in self.nodes or p in self.sources}
            self.parents[uid] = ups
            for parent in ups:
                self.children[parent].add(uid)
        # Models configured as the semantic layer's time spine.
        self.time_spines = {uid for uid, n in self.models.items() if n.get("time_spine")}

    def kind(self, uid: str) -> str:
        return "source" if uid in self.sources else self.nodes[uid]["resource_type"]

    def name(self, uid: str) -> str:
        if uid in self.sources:
            src = self.sources[uid]
            return f"{src['source_name']}.{src['name']}"
        return self.nodes[uid]["name"]

    def model_type(self, uid: str) -> str | None:
        name = self.nodes[uid]["name"]
        return next((t for p, t in PREFIX_TYPES.items() if name.startswith(p)), None)

    def folder_type(self, uid: str) -> str | None:
        folders = Path(self.nodes[uid]["original_file_path"]).parts[1:-1]
        # The folder nearest the file wins, as in the evaluator.
        return next((FOLDER_TYPES[f] for f in reversed(folders) if f in FOLDER_TYPES), None)

    def model_parents(self, uid: str) -> set[str]:
        return {p for p in self.parents.get(uid, ()) if self.kind(p) == "model"}


def dag_rules(p: Project) -> list[Finding]:
    found: list[Finding] = []
    for uid, model in p.models.items():
        ups = p.parents[uid]
        sources = sorted(p.name(u) for u in ups if u in p.sources)
        models = [u for u in ups if p.kind(u) == "model"]
        mtype = p.model_type(uid)
        if sources and models:
            found.append(Finding("direct_join_to_source", model["name"], ", ".join(sources)))
        if sources and mtype in ("marts", "intermediate", "other"):
            found.append(Finding("marts_or_intermediate_dependent_on_source", model["name"], ", ".join(sources)))
        if len(sources) > 1:
            found.append(Finding("multiple_sources_joined", model["name"], ", ".join(sources)))
        if not ups and uid not in p.time_spines:
            found.append(Finding("root_models", model["name"]))
        if mtype in ("staging", "base"):
            for up in models:
                up_type = p.model_type(up)
                if up_type in ("marts", "intermediate", "other"):
                    found.append(Finding("staging_dependent_on_marts_or_intermediate", model["name"], p.name(up)))
                elif up_type == "staging":
                    found.append(Finding("staging_dependent_on_staging", model["name"], p.name(up)))
        if mtype in ("intermediate",) and any(p.model_type(u) in ("marts", "other") for u in models):
            found.append(
                Finding(
                    "intermediate_dependent_on_marts",
                    model["name"],
                    ", ".join(sorted(p.name(u) for u in models if p.model_type(u) in ("marts", "other"))),
                )
            )
        if len(models) + len(sources) > TOO_MANY_JOINS:
            found.append(Finding("too_many_joins", model["name"], str(len(models) + len(sources))))
        # SQL only (a Python model's imports are not relations); comments, the `from` inside
        # extract(part from value) and `is [not] distinct from` are not references.
        code = re.sub(
            r"\{#.*?#\}|--[^\n]*|extract\s*\([^)]*\)|\bdistinct\s+from\b",
            "",
            model.get("raw_code", ""),
            flags=re.S | re.I,
        )
        hard = sorted(set(HARD_CODED.findall(code))) if model.get("language") == "sql" else []
        if hard:
            found.append(Finding("hard_coded_references", model["name"], ", ".join(hard)))
    for uid in p.sources:
        readers = sorted(p.name(c) for c in p.children.get(uid, ()) if p.kind(c) == "model")
        if not readers:
            found.append(Finding("unused_sources", p.name(uid)))
        elif len(readers) > 1:
            found.append(Finding("source_fanout", p.name(uid), ", ".join(readers)))
    leaves = {uid for uid in p.models if not any(p.kind(c) == "model" for c in p.children.get(uid, ()))}
    for uid in p.models:
        leaf_children = sorted(p.name(c) for c in p.children.get(uid, ()) if c in leaves)
        if len(leaf_children) >= FANOUT_THRESHOLD:
            found.append(Finding("model_fanout", p.name(uid), ", ".join(leaf_children)))
    # Rejoining: parent -> middle -> child and parent -> child, where middle feeds only child.
    for child, ups in p.parents.items():
        for middle in ups:
            if len(p.children.get(middle, ())) != 1:
                continue
            for parent in p.parents.get(middle, set()) & ups:
                found.append(
                    Finding(
                        "rejoining_of_upstream_concepts",
                        p.name(child),
                        f"{p.name(parent)} directly and through {p.name(middle)}",
                    )
                )
    return found


def test_rules(p: Project) -> list[Finding]:
    tests_by_model: dict[str, set[str]] = defaultdict(set)
    for test in p.tests.values():
        meta = test.get("test_metadata") or {}
        attached = test.get("attached_node") or next(iter(test["depends_on"]["nodes"]), None)
        if meta.get("name") and attached:
            tests_by_model[attached].add(meta["name"])
    found = []
    for uid, model in p.models.items():
        names = tests_by_model.get(uid, set())
        if not any(key <= names for key in PRIMARY_KEY_TESTS):
            found.append(Finding("missing_primary_key_tests", model["name"]))
    return found


def documentation_rules(p: Project) -> list[Finding]:
    found = []
    for model in p.models.values():
        if not model.get("description"):
            found.append(Finding("undocumented_models", model["name"]))
        blank = sorted(c for c, col in model.get("columns", {}).items() if not col.get("description"))
        if blank:
            found.append(Finding("undocumented_columns", model["name"], ", ".join(blank)))
    for uid, src in p.sources.items():
        if not src.get("description"):
            found.append(Finding("undocumented_source_tables", p.name(uid)))
        if not src.get("source_description"):
            found.append(Finding("undocumented_sources", src["source_name"]))
    return found


def structure_rules(p: Project) -> list[Finding]:
    found = []
    for uid, model in p.models.items():
        mtype = p.model_type(uid)
        if uid in p.time_spines:
            continue
        if mtype is None:
            found.append(Finding("model_naming_conventions", model["name"], "no prefix of " + "/".join(PREFIX_TYPES)))
            continue
        folder = p.folder_type(uid)
        if mtype == "staging":
            srcs = {p.sources[u]["source_name"] for u in p.parents[uid] if u in p.sources}
            path = model["original_file_path"]
            if not path.startswith("models/staging/") or any(f"/{s}/" not in path for s in srcs):
                found.append(Finding("model_directories", model["name"], path))
        elif mtype != "other" and folder != mtype:
            found.append(Finding("model_directories", model["name"], model["original_file_path"]))
    for uid, src in p.sources.items():
        if f"/{src['source_name']}/" not in src["original_file_path"]:
            found.append(Finding("source_directories", p.name(uid), src["original_file_path"]))
    for test in p.tests.values():
        attached = test.get("attached_node")
        if not attached or attached not in p.models or not test.get("test_metadata"):
            continue
        model_dir = str(Path(p.models[attached]["original_file_path"]).parent)
        test_dir = str(Path(test["original_file_path"]).parent)
        if model_dir != test_dir:
            found.append(Finding("test_directories", test["name"], test_dir))
    return found


def findings(manifest: dict) -> list[Finding]:
    project = Project(manifest)
    everything = dag_rules(project) + test_rules(project) + documentation_rules(project) + structure_rules(project)
    return sorted(set(everything), key=lambda f: (f.rule, f.resource, f.detail))


def exceptions(path: Path = EXCEPTIONS) -> dict[tuple[str, str], str]:
    with path.open(newline="") as handle:
        return {(row["rule"], row["resource"]): row["reason"] for row in csv.DictReader(handle)}


def main(argv: list[str]) -> int:
    manifest_path = Path(argv[0]) if argv else ROOT / "target" / "manifest.json"
    if not manifest_path.exists():
        print(f"{manifest_path}: no manifest; run `dbt parse` first")
        return 2
    found = findings(json.loads(manifest_path.read_text()))
    explained = exceptions()
    unexplained = [f for f in found if (f.rule, f.resource) not in explained]
    stale = sorted(set(explained) - {(f.rule, f.resource) for f in found})
    for f in found:
        mark = "explained" if (f.rule, f.resource) in explained else "FINDING"
        print(f"{mark:10} {f.rule:45} {f.resource:40} {f.detail}")
    for rule, resource in stale:
        print(f"{'STALE':10} {rule:45} {resource:40} exception matches nothing: remove it")
    print(
        f"{len(found)} findings, {len(found) - len(unexplained)} explained, "
        f"{len(unexplained)} unexplained, {len(stale)} stale exceptions"
    )
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
