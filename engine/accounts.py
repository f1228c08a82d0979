"""The account tree: accounts, units, numbering, and the initial split from accounts.yaml."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from alluse.engine.ledger import money
from alluse.engine.machines import AccountModel
from alluse.engine.policy.models import AccountsPolicy
from alluse.engine.tax import ForkCursor


@dataclass(eq=False, slots=True)
class AccountInfo:
    id: str
    type: str
    unit: str
    parent: str | None
    initial_capital: Decimal
    created_at: dt.datetime | None
    model: AccountModel
    # where the last fork left the account's realized results: the next fork's gain starts there
    tax_cursor: ForkCursor = field(default_factory=ForkCursor)
    # index into Ledger.realized() where the account's current reinvestment period starts
    reinvest_index: int = 0

    @property
    def state(self) -> str:
        return self.model.state


def split_amounts(total: Decimal, split: dict[str, float]) -> dict[str, Decimal]:
    """Split ``total`` by percentages to the cent; the rounding remainder goes to the last share,
    so the parts always add up to the total exactly."""
    out: dict[str, Decimal] = {}
    items = list(split.items())
    running = Decimal(0)
    for i, (name, pct) in enumerate(items):
        if i == len(items) - 1:
            out[name] = total - running
        else:
            out[name] = money(total * Decimal(str(pct)) / 100)
            running += out[name]
    return out


class AccountTree:
    """Accounts by id, numbered per type (GEN-ACC-001, GEN-ACC-002 …), grouped in units."""

    __persist__ = ("accounts", "_next", "_units")

    def __init__(self) -> None:
        self.accounts: dict[str, AccountInfo] = {}
        self._next: dict[str, int] = {}
        self._units = 0

    def new_unit(self) -> str:
        self._units += 1
        return f"U{self._units:03d}"

    def add(self, acc_type: str, unit: str, parent: str | None, capital: Decimal,
            ts: dt.datetime | None, forked: bool) -> AccountInfo:
        n = self._next.get(acc_type, 1)
        self._next[acc_type] = n + 1
        acc_id = f"{acc_type}-{n:03d}"
        info = AccountInfo(acc_id, acc_type, unit, parent, capital, ts,
                           AccountModel(acc_id, forked_unit=forked))
        self.accounts[acc_id] = info
        return info

    def unit_members(self, unit: str) -> list[AccountInfo]:
        return [a for a in self.accounts.values() if a.unit == unit]

    def root(self, policy: AccountsPolicy, capital: Decimal) -> list[AccountInfo]:
        unit = self.new_unit()
        return [self.add(t, unit, None, amount, None, False)
                for t, amount in split_amounts(capital, dict(policy.split)).items()]
