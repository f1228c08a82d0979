"""One exception tree for alluse.

    AlluseError
    ├── PolicyError            load time: a policy set that must not be loaded
    │   └── PolicyLoadError      carries every PolicyIssue found (file:line:col, policy, rule)
    ├── EventError             bad input event: names the line and the field
    ├── DataError              bad market-data file or row
    └── ExecutionError         run time: something failed while acting on a decision
        ├── BrokerError          translated from ib_async / the simulated broker
        ├── StoreError           translated from SQLAlchemy
        └── ApprovalError        an operator's decision the action script cannot take

Foreign exceptions are translated at the adapter boundary with ``raise … from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


class AlluseError(Exception):
    """Base of every error alluse raises on purpose."""


def one_line(text: str) -> str:
    """``text`` with every line break and other control character escaped (``\\n``, ``\\x07``),
    so a message quoting a YAML key or an expression stays on one line of a terminal or log."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == "\t":
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return "".join(out)


_ESCAPES = {"\n": "\\n", "\r": "\\r"}


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem found in a policy set, located as precisely as the YAML allows (1-based).

    ``severity`` is ``error`` (the set is refused) or ``warning`` (lint reports it; the set
    loads). Every text field is kept on one line (`one_line`).
    """

    file: str
    line: int
    col: int
    message: str
    policy: str = ""
    rule: str = ""
    code: str = "invalid"
    severity: str = "error"

    def __post_init__(self) -> None:
        for name in ("file", "message", "policy", "rule"):
            value = getattr(self, name)
            if not value.isprintable():
                object.__setattr__(self, name, one_line(value))

    @property
    def is_warning(self) -> bool:
        return self.severity == "warning"

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        parts = (self.policy and f"policy {self.policy}", self.rule and f"rule {self.rule}")
        ctx = ", ".join(p for p in parts if p)
        level = "warning: " if self.is_warning else ""
        return f"{where}: {level}{ctx + ': ' if ctx else ''}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "policy": self.policy,
            "rule": self.rule,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


class PolicyError(AlluseError):
    """A policy cannot be loaded."""


class PolicyLoadError(PolicyError):
    """Loading a policy set found problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.col, i.message))
        first = self.issues[0].format() if self.issues else "invalid policy set"
        more = f" (+{len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(first + more)


class EventError(AlluseError):
    """An input event is malformed; the message names the line and the field."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.line = line
        self.field = field
        prefix = f"line {line}: " if line is not None else ""
        prefix += f"field {field!r}: " if field else ""
        super().__init__(prefix + message)


class DataError(AlluseError):
    """A market-data file or row cannot be used."""


class ExecutionError(AlluseError):
    """Acting on a decision failed at run time."""


class BrokerError(ExecutionError):
    """The broker (IB or simulated) refused or failed."""


class StoreError(ExecutionError):
    """The decision store failed."""


class ApprovalError(ExecutionError):
    """An action script cannot take the operator's decision; ``code`` says why: expired, rejected
    or the status it is in (executed, failed …)."""

    def __init__(self, message: str, *, code: str) -> None:
        self.code = code
        super().__init__(message)
