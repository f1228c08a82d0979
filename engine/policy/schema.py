"""JSON Schema (2020-12) for each policy file, generated from the models; never hand-edited."""

from __future__ import annotations

import json

from pydantic import BaseModel

from alluse.engine.policy.models import POLICY_FILES, StrategyPolicy
from alluse.engine.policy.testfile import PolicyTestFile

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_files() -> dict[str, type[BaseModel]]:
    """Schema file name → model: one per policy file, one shared by every strategy, one for
    the policy test files (tests/*.yaml)."""
    out: dict[str, type[BaseModel]] = {
        name.removesuffix(".yaml") + ".schema.json": model for name, model in POLICY_FILES.items()
    }
    out["strategy.schema.json"] = StrategyPolicy
    out["policy_test.schema.json"] = PolicyTestFile
    return dict(sorted(out.items()))


def render_schemas() -> dict[str, str]:
    rendered = {}
    for name, model in schema_files().items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        doc = {"$schema": DIALECT, "$id": name, **schema}
        rendered[name] = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return rendered
