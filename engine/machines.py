"""The three `transitions` state machines, declared as data; one shared machine per kind.

- protocol level of each short option position: L0..Ln from protocols.yaml;
- position lifecycle (the wheel) per account and symbol (a roll is a close and an open at the
  same timestamp: the open carries the rule `wheel.roll` and the week type records "rolled");
- account lifecycle.

Each is one ``Machine(model=None, auto_transitions=False)`` serving many models via `add_model`.
Triggers are only fired when something changes (a trigger costs ~12 µs). Every transition is
recorded through ``after_state_change`` with the rule and the values that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine

from alluse.engine.decisions import Transition, Value

Recorder = Callable[[Transition], None]


# ----------------------------------------------------------------------------- models
# `eq=False`: transitions keeps models in a list and must compare them by identity.


@dataclass(eq=False, slots=False)
class ProtocolModel:
    key: str
    state: str = "L0"


@dataclass(eq=False, slots=False)
class WheelModel:
    key: str  # "ACCOUNT:SYMBOL"
    state: str = "cash"


@dataclass(eq=False, slots=False)
class AccountModel:
    key: str
    forked_unit: bool = False
    state: str = "active"

    def is_forked_unit(self, event: EventData | None = None) -> bool:
        return self.forked_unit


# ----------------------------------------------------------------------------- tables

WHEEL_STATES = ["cash", "short_put", "stock", "covered_call"]
WHEEL_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "sell_put", "source": "cash", "dest": "short_put"},
    {"trigger": "put_expired", "source": "short_put", "dest": "cash"},
    {"trigger": "put_closed", "source": "short_put", "dest": "cash"},
    {"trigger": "put_assigned", "source": "short_put", "dest": "stock"},
    {"trigger": "sell_call", "source": "stock", "dest": "covered_call"},
    {"trigger": "call_expired", "source": "covered_call", "dest": "stock"},
    {"trigger": "call_closed", "source": "covered_call", "dest": "stock"},
    {"trigger": "called_away", "source": "covered_call", "dest": "cash"},
    {"trigger": "stock_sold", "source": "stock", "dest": "cash"},
]

ACCOUNT_STATES = ["active", "fork_pending", "forked", "merging", "merged", "suspended"]
ACCOUNT_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "request_fork", "source": "active", "dest": "fork_pending"},
    {"trigger": "complete_fork", "source": "fork_pending", "dest": "active"},
    {"trigger": "start_merge", "source": "forked", "dest": "merging"},
    {"trigger": "complete_merge", "source": "merging", "dest": "merged"},
    {"trigger": "suspend", "source": ["active", "forked"], "dest": "suspended"},
    {"trigger": "resume", "source": "suspended", "dest": "active",
     "unless": "is_forked_unit"},
    {"trigger": "resume", "source": "suspended", "dest": "forked",
     "conditions": "is_forked_unit"},
]


def protocol_tables(levels: int, step_down: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """States L0..L{n-1}; ``to_Lj`` from any lower level (a gap may skip levels), and from any
    higher level when the policy steps down (a reversal may pass several boundaries at once)."""
    states = [f"L{i}" for i in range(levels)]
    table: list[dict[str, Any]] = []
    for j in range(levels):
        sources = [f"L{i}" for i in range(j)]
        if step_down:
            sources += [f"L{i}" for i in range(j + 1, levels)]
        if sources:
            table.append({"trigger": f"to_L{j}", "source": sources, "dest": f"L{j}"})
    return states, table


class _Shared:
    """One machine, many models; records each transition with its cause."""

    def __init__(self, name: str, states: list[str], table: list[dict[str, Any]],
                 record: Recorder, initial: str) -> None:
        self.name = name
        self.states = states
        self.table = table
        self._record = record
        self.machine = Machine(model=None, states=states, transitions=table, initial=initial,
                               auto_transitions=False, send_event=True,
                               after_state_change=self._after)

    def _after(self, event: EventData) -> None:
        cause: tuple[str, tuple[tuple[str, Value], ...]] = event.kwargs.get("cause", ("", ()))
        transition = event.transition
        assert transition is not None  # after_state_change only runs for a transition
        self._record(Transition(self.name, str(getattr(event.model, "key", "")),
                                str(transition.source), str(transition.dest), cause[0], cause[1]))

    def add(self, model: Any, initial: str | None = None) -> None:
        self.machine.add_model(model, initial=initial or self.machine.initial)

    def remove(self, model: Any) -> None:
        self.machine.remove_model(model)

    def fire(self, model: Any, trigger: str, rule: str,
             values: tuple[tuple[str, Value], ...] = ()) -> bool:
        """Fire ``trigger`` if the model's state allows it; False (and nothing recorded) if not.

        The wheel is tracked per account and symbol, so a second leg (a roll's new put while the
        old one was assigned, say) can arrive in a state the table has no edge for."""
        if not self.machine.get_transitions(trigger, source=model.state):
            return False
        return bool(model.trigger(trigger, cause=(rule, values)))

    def mermaid(self) -> str:
        lines = ["stateDiagram-v2", f"    %% {self.name}"]
        lines.append(f"    [*] --> {self.machine.initial}")
        for t in self.table:
            sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
            guard = ""
            if "conditions" in t:
                guard = f" [{t['conditions']}]"
            elif "unless" in t:
                guard = f" [not {t['unless']}]"
            for s in sources:
                lines.append(f"    {s} --> {t['dest']}: {t['trigger']}{guard}")
        return "\n".join(lines) + "\n"


class Machines:
    """The engine's three shared machines. Rebuilt (models carried over) on a policy change."""

    def __init__(self, protocol_levels: int, step_down: bool, record: Recorder) -> None:
        states, table = protocol_tables(protocol_levels, step_down)
        self.protocol = _Shared("protocol", states, table, record, "L0")
        self.wheel = _Shared("wheel", WHEEL_STATES, WHEEL_TRANSITIONS, record, "cash")
        self.account = _Shared("account", ACCOUNT_STATES, ACCOUNT_TRANSITIONS, record, "active")

    def rebuild_protocol(self, protocol_levels: int, step_down: bool, record: Recorder,
                         models: list[ProtocolModel]) -> None:
        for m in models:
            self.protocol.remove(m)
        states, table = protocol_tables(protocol_levels, step_down)
        self.protocol = _Shared("protocol", states, table, record, "L0")
        top = protocol_levels - 1
        for m in models:
            level = min(int(m.state[1:]), top)
            self.protocol.add(m, f"L{level}")
