"""The pure core of alluse: policies, events, state machines, decisions, ledger, pricing.

No I/O and no clock: time arrives in events, and the same policy and events give the same
decisions. Names are imported lazily so that importing `alluse.engine.errors` (every command
does) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alluse.engine.core import Engine
    from alluse.engine.decisions import ActionScript, Alert, Decision, RuleTrace, Transition
    from alluse.engine.events import parse_event, parse_events
    from alluse.engine.ledger import Ledger
    from alluse.engine.policy import PolicySet, load_policy_set

_WHERE = {
    "ActionScript": "decisions", "Alert": "decisions", "Decision": "decisions",
    "Engine": "core", "Ledger": "ledger", "PolicySet": "policy", "RuleTrace": "decisions",
    "Transition": "decisions", "load_policy_set": "policy", "parse_event": "events",
    "parse_events": "events",
}

__all__ = [
    "ActionScript",
    "Alert",
    "Decision",
    "Engine",
    "Ledger",
    "PolicySet",
    "RuleTrace",
    "Transition",
    "load_policy_set",
    "parse_event",
    "parse_events",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"alluse.engine.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'alluse.engine' has no attribute {name!r}")
