"""The snapshot codec: a dataclass field added since a state was saved takes its default."""

from __future__ import annotations

import json

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.core import Engine


def test_a_snapshot_saved_before_deferred_entries_and_reinvestment_restores_with_defaults():
    """An older snapshot has no deferred_entries, withdrawn or reinvest_index: the restored
    engine has none deferred, 0 withdrawn and every account's period from the start."""
    ps = load_policy_dir(default_policy_dir())
    saved = json.loads(Engine(ps, 100_000).snapshot())

    def strip(node: object) -> None:
        if isinstance(node, dict):
            if "$o" in node:  # a saved object: drop the fields an older alluse did not have
                for name in ("deferred_entries", "withdrawn", "reinvest_index"):
                    node["v"].pop(name, None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(saved)
    old = json.dumps(saved).encode()
    assert b"deferred_entries" not in old and b"reinvest_index" not in old
    state = Engine.restore(old, ps).state
    assert ({}, 0, [0, 0, 0]) == (state.deferred_entries, state.withdrawn,
                                  [a.reinvest_index for a in state.tree.accounts.values()])
