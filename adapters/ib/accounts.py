"""Virtual sub-accounts on one IB account.

IB holds one account; the engine trades several (GEN-ACC-001, REV-ACC-001 …). Fills are booked to
the engine account that placed the order (found by orderRef), so each virtual account has its own
holdings; their sum must equal what IB holds. These pure functions keep the virtual holdings, list
where they and IB disagree, and recognise assignments and expirations in IB's positions.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from alluse.engine.events import Assignment, BrokerEvent, Expiration, Fill, OptionContract

Key = str | OptionContract  # a stock's symbol or an option
Holdings = dict[str, dict[Key, int]]  # engine account → key → signed quantity (short < 0)
SHARES_PER_CONTRACT = 100
MAX_SETTLING = 12  # contracts of one symbol tried together when telling assignments from expiries


@dataclass(frozen=True, slots=True)
class PositionDifference:
    """One contract or stock where IB's position is not the sum of the virtual accounts'."""

    key: Key
    at_ib: int
    virtual: int
    accounts: dict[str, int] = field(default_factory=dict)

    @property
    def gap(self) -> int:
        return self.at_ib - self.virtual

    def describe(self) -> str:
        split = ", ".join(f"{a} {q:+d}" for a, q in sorted(self.accounts.items())) or "none"
        return f"{self.key}: IB holds {self.at_ib:+d}, the virtual accounts {self.virtual:+d} ({split})"


def _sort_key(key: Key) -> tuple[int, str]:
    return (isinstance(key, OptionContract), str(key))


def totals(holdings: Holdings) -> dict[Key, int]:
    out: dict[Key, int] = {}
    for positions in holdings.values():
        for key, qty in positions.items():
            out[key] = out.get(key, 0) + qty
    return out


def position_differences(at_ib: Mapping[Key, int], holdings: Holdings) -> list[PositionDifference]:
    """Every stock and option where IB and the sum of the virtual accounts disagree."""
    virtual = totals(holdings)
    out = []
    for key in sorted(set(at_ib) | set(virtual), key=_sort_key):
        ib_qty, v_qty = at_ib.get(key, 0), virtual.get(key, 0)
        if ib_qty != v_qty:
            split = {a: p[key] for a, p in holdings.items() if p.get(key)}
            out.append(PositionDifference(key, ib_qty, v_qty, split))
    return out


def _move(holdings: Holdings, account: str, key: Key, change: int) -> None:
    positions = holdings.setdefault(account, {})
    qty = positions.get(key, 0) + change
    if qty:
        positions[key] = qty
    else:
        positions.pop(key, None)


def settlement_shares(contract: OptionContract, held: int) -> int:
    """Shares that move into the account when a holding of ``held`` contracts is assigned or
    exercised (a short put takes shares in, a short call gives them up)."""
    return (-held if contract.right == "P" else held) * SHARES_PER_CONTRACT


def apply_event(holdings: Holdings, event: BrokerEvent) -> None:
    """Book a broker event to the virtual account it names."""
    if isinstance(event, Fill):
        key: Key = event.contract or event.symbol
        _move(holdings, event.account, key, event.quantity if event.side == "BUY" else -event.quantity)
    elif isinstance(event, Assignment | Expiration):
        held = holdings.get(event.account, {}).get(event.contract, 0)
        toward_zero = event.quantity if held < 0 else -event.quantity
        _move(holdings, event.account, event.contract, toward_zero)
        if isinstance(event, Assignment):
            _move(holdings, event.account, event.symbol,
                  settlement_shares(event.contract, -toward_zero))


def settlements(at_ib: Mapping[Key, int], holdings: Holdings, *, busy: set[str], today: dt.date,
                ts: dt.datetime) -> list[Assignment | Expiration]:
    """Assignments and expirations that explain IB's positions.

    An option the virtual accounts hold that IB no longer holds at all has settled. Per symbol,
    the short options whose assignment accounts exactly for the gap in the stock position are
    assigned; the others must be past their expiry, and expired. When no such split exists, or
    more than one, nothing is reported (the difference list shows it). Symbols with orders still
    working or fills still arriving (``busy``) are left alone.
    """
    virtual = totals(holdings)
    gone: dict[str, list[OptionContract]] = {}
    for key, qty in virtual.items():
        if isinstance(key, OptionContract) and qty and at_ib.get(key, 0) == 0:
            gone.setdefault(key.symbol, []).append(key)
    out: list[Assignment | Expiration] = []
    for symbol in sorted(gone):
        contracts = sorted(gone[symbol])
        if symbol in busy or len(contracts) > MAX_SETTLING:
            continue
        gap = at_ib.get(symbol, 0) - virtual.get(symbol, 0)
        splits = [subset for n in range(len(contracts) + 1)
                  for subset in itertools.combinations(contracts, n)
                  if _explains(subset, contracts, virtual, gap, today)]
        if len(splits) != 1:
            continue
        assigned = set(splits[0])
        for contract in contracts:
            for account in sorted(holdings):
                held = holdings[account].get(contract, 0)
                if held and contract in assigned:
                    out.append(Assignment(ts, account, symbol, contract.expiry, contract.strike,
                                          contract.right, abs(held)))
                elif held:
                    out.append(Expiration(ts, account, symbol, contract.expiry, contract.strike,
                                          contract.right, abs(held)))
    return out


def _explains(assigned: tuple[OptionContract, ...], contracts: list[OptionContract],
              virtual: Mapping[Key, int], gap: int, today: dt.date) -> bool:
    if any(virtual[c] > 0 for c in assigned):  # only written options are assigned
        return False
    if any(c.expiry > today for c in contracts if c not in assigned):
        return False  # gone before its expiry, and not by assignment: not ours to explain
    return sum(settlement_shares(c, virtual[c]) for c in assigned) == gap
