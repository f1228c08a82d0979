"""The exported JSON Schemas (schemas/): fresh, valid 2020-12, agree with the models and the files.

Also the meta-lint of the models themselves: frozen, unknown keys forbidden, documented steps.
"""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import datetime
import inspect
import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from ruamel.yaml import YAML

import alluse.engine.policy.common as common
import alluse.engine.policy.models as models
import alluse.engine.policy.testfile as testfile
from alluse.adapters.policy_files import default_policy_dir, default_schema_dir
from alluse.engine.policy.schema import DIALECT, render_schemas

CORPUS = Path(__file__).resolve().parent / "policies"
POLICIES = default_policy_dir()
SCHEMAS = default_schema_dir()
POLICY_FILES = sorted(p.relative_to(POLICIES).as_posix() for p in POLICIES.rglob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")

# Corpus cases whose error is one of structure or type, which a JSON Schema can see too.
SCHEMA_VISIBLE_CASES = [
    "12_not_a_mapping", "15_bool_yes_stays_string", "16_number_as_string", "17_version_2",
    "18_out_of_range_values", "19_unknown_key_did_you_mean", "20_unknown_key_no_hint",
    "21_missing_required_key", "22_unknown_step_kind", "23_bad_literal_enum",
    "31_expr_too_long", "42_bad_account_type_format", "51_unknown_job_handler",
    "55_time_window_bad_time", "57_bad_tickers", "68_entry_scan_handler_misspelt",
    "69_unknown_strike_method", "70_unknown_risk_measure",
]


def _dates_as_text(node: object) -> object:
    # YAML 1.2's core schema has no timestamps: an editor's schema check sees 2026-11-20 as the
    # string it is written as (ruamel's safe loader still builds a date)
    if isinstance(node, dict):
        return {k: _dates_as_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_dates_as_text(v) for v in node]
    return node.isoformat() if isinstance(node, datetime.date) else node


def plain_data(raw: bytes) -> object:
    """YAML 1.2 as plain data, what an editor's schema check sees (no positions, no models)."""
    return _dates_as_text(YAML(typ="safe", pure=True).load(raw.decode("utf-8")))


def schema_name(rel: str) -> str:
    if rel.startswith("tests/"):
        return "policy_test.schema.json"
    return "strategy.schema.json" if rel.startswith("strategies/") else \
        rel.removesuffix(".yaml") + ".schema.json"


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text("utf-8")))


def test_schema_check_command_exits_0_on_the_repository():
    """`alluse policy schema --check`: the committed schemas match the models."""
    result = subprocess.run(
        [sys.executable, "-c", "from alluse.cli import main; main()", "policy", "schema",
         "--check"], capture_output=True, text=True, timeout=60)
    assert 0 == result.returncode, result.stdout + result.stderr


def test_committed_schemas_are_exactly_what_the_models_render():
    """Byte for byte, and no schema file that no model generates."""
    rendered = render_schemas()
    on_disk = {p.name: p.read_text("utf-8") for p in SCHEMAS.glob("*.schema.json")}
    assert rendered == on_disk


@pytest.mark.parametrize("name", sorted(render_schemas()))
def test_schema_is_valid_draft_2020_12(name):
    """Each schema declares the 2020-12 dialect and is itself a valid schema of it."""
    schema = json.loads((SCHEMAS / name).read_text("utf-8"))
    assert (DIALECT, name) == (schema["$schema"], schema["$id"])
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("rel", POLICY_FILES)
def test_schema_accepts_every_default_policy_file(rel):
    """Every default file, loaded as plain data, passes its schema."""
    data = plain_data((POLICIES / rel).read_bytes())
    errors = [e.message for e in validator(schema_name(rel)).iter_errors(data)]
    assert [] == errors


@pytest.mark.parametrize("case", SCHEMA_VISIBLE_CASES)
def test_schema_rejects_the_corpus_structure_and_type_errors(case):
    """The schema an editor uses flags the same broken files that lint rejects for type."""
    overlay = CORPUS / "bad" / case
    files = sorted(p for p in overlay.rglob("*.yaml"))
    assert files
    for path in files:
        rel = path.relative_to(overlay).as_posix()
        errors = list(validator(schema_name(rel)).iter_errors(plain_data(path.read_bytes())))
        assert errors, f"{case}/{rel} passes its schema"


@pytest.mark.parametrize("rel", POLICY_FILES)
def test_modeline_points_at_an_existing_schema(rel):
    """The first line tells editors which schema to use, by a path that exists."""
    first = (POLICIES / rel).read_text("utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match is not None, first
    expected = ("../" * (rel.count("/") + 1)) + "schemas/" + schema_name(rel)
    assert expected == match.group(1)
    assert ((POLICIES / rel).parent / match.group(1)).resolve().is_file()


def _policy_models() -> list[type[BaseModel]]:
    found = {}
    for module in (common, models, testfile):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseModel) and obj.__module__ == module.__name__:
                found[obj.__qualname__] = obj
    return [found[k] for k in sorted(found)]


@pytest.mark.parametrize("model", _policy_models(), ids=lambda m: m.__name__)
def test_every_policy_model_is_frozen_and_forbids_unknown_keys(model):
    """Meta-lint: no model silently accepts an unknown key or can be changed after load."""
    config = model.model_config
    assert ("forbid", True) == (config.get("extra"), config.get("frozen"))


def test_there_are_models_to_check():
    """The meta-lint is not vacuous: it sees the file models and the shared ones."""
    names = {m.__name__ for m in _policy_models()}
    assert {"ProtocolsPolicy", "StrategyPolicy", "OrderStep", "ScriptTemplate",
            "PolicyTestFile"} <= names


STEP_TYPES = typing.get_args(typing.get_args(common.Step)[0])


@pytest.mark.parametrize("step", STEP_TYPES, ids=lambda m: m.__name__)
def test_every_script_step_type_documents_a_valid_yaml_example(step):
    """Each step type's docstring carries a YAML example, and the example is a valid step."""
    doc = inspect.getdoc(step) or ""
    found = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert found is not None, f"{step.__name__} has no ```yaml example"
    example = plain_data(found.group(1).encode())
    assert isinstance(example, list) and len(example) == 1
    assert step.__name__ == type(step.model_validate(example[0])).__name__


def test_step_types_cover_every_kind():
    """The discriminated union holds the three kinds the engine executes."""
    kinds = sorted(typing.get_args(s.model_fields["kind"].annotation)[0] for s in STEP_TYPES)
    assert ["alert", "note", "order"] == kinds
