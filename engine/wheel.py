"""Broker events through the ledger and the wheel machine: fills, assignments, expirations, and
orders that ended unfilled (their collateral reservation is released)."""

from __future__ import annotations

import math

from alluse.engine import monitoring, portfolio
from alluse.engine.context import Ctx
from alluse.engine.errors import EventError
from alluse.engine.events import Assignment, Expiration, Fill, OrderCancelled, OrderRejected
from alluse.engine.machines import WheelModel
from alluse.engine.protocol import ShortOption
from alluse.engine.risk import track_losses
from alluse.engine.state import Outcome


def wheel(ctx: Ctx, account: str, symbol: str) -> WheelModel:
    w = ctx.state.wheels.get((account, symbol))
    if w is None:
        w = ctx.state.wheels[(account, symbol)] = WheelModel(f"{account}:{symbol}")
        ctx.machines.wheel.add(w, "cash")
    return w


def _check_account(ctx: Ctx, account: str) -> None:
    if account not in ctx.state.tree.accounts:
        raise EventError(f"unknown account '{account}' (accounts: "
                         f"{', '.join(sorted(ctx.state.tree.accounts))})", field="account")


def _outcome(ctx: Ctx, account: str, symbol: str, right: str, outcome: str, pnl: float, *,
             replace: bool = False) -> None:
    outcomes = ctx.state.outcomes
    if replace:
        for o in reversed(outcomes):
            if o.account == account and o.symbol == symbol and o.right == right and \
                    o.outcome == "closed":
                o.outcome = "rolled"
                return
    outcomes.append(Outcome(ctx.today, account, symbol, right, outcome, pnl))


def on_order_ended(ctx: Ctx, ev: OrderRejected | OrderCancelled) -> None:
    """An order ended unfilled: a proposal's collateral it was holding is free again."""
    _check_account(ctx, ev.account)
    for key, res in list(ctx.state.pending.items()):
        if ev.order_id in res.order_ids:
            del ctx.state.pending[key]
            ctx.fire("position.reservation_released", f"{ev.account}: order {ev.order_id} "
                     f"{'rejected' if isinstance(ev, OrderRejected) else 'cancelled'} "
                     f"({ev.reason}); {res.amount:,.2f} of collateral is free again")
            return
    ctx.fire("broker.order_ended", f"{ev.account}: order {ev.order_id} "
             f"{'rejected' if isinstance(ev, OrderRejected) else 'cancelled'} ({ev.reason})")


def on_fill(ctx: Ctx, ev: Fill) -> None:
    _check_account(ctx, ev.account)
    state = ctx.state
    realized_before = len(state.ledger.realized())
    state.ledger.apply(ev)
    w = wheel(ctx, ev.account, ev.symbol)
    contract = ev.contract
    if contract is None:  # stock trade
        ctx.fire("ledger.stock_fill", f"{ev.account} {ev.side} {ev.quantity} {ev.symbol} at "
                 f"{ev.price:.2f}")
        held = portfolio.shares(state, ev.account, ev.symbol)
        if ev.side == "SELL" and held == 0 and w.state == "stock":
            ctx.machines.wheel.fire(w, "stock_sold", "wheel.stock_sold")
        elif ev.side == "BUY" and w.state == "cash" and held >= 100:
            ctx.machines.wheel.fire(w, "put_assigned", "wheel.stock_bought")
        track_losses(ctx, ev.account, realized_before)
        return
    key = (ev.account, contract)
    pos = state.shorts.get(key)
    name = f"{ev.account} {contract}"
    if ev.side == "SELL":  # sell to open (or add to) a short option
        state.pending.pop(key, None)
        if pos is not None:
            total = pos.quantity + ev.quantity
            pos.premium = (pos.premium * pos.quantity + ev.price * ev.quantity) / total
            pos.quantity = total
            ctx.fire("position.add", f"{name}: now short {total}")
            return
        st = ctx.symbol(ev.symbol)
        price, atr = st.price, st.atr.value
        if price is None or atr is None or atr <= 0:
            ctx.miss("protocols.monitor", f"{name}: no underlying price/ATR yet, the position is "
                     "not protocol-monitored until both are known")
            ctx.alert("SYSTEM_STATUS", "HIGH", f"{name} opened without price/ATR: not monitored",
                      account=ev.account, rule="protocols.monitor")
            price = price if price is not None else contract.strike
            atr = atr if atr is not None and atr > 0 else math.inf
        covered = contract.right == "C" and portfolio.shares(
            state, ev.account, ev.symbol) >= 100 * ev.quantity
        pos = ShortOption(ev.account, ev.symbol, contract.expiry, contract.strike, contract.right,
                          ev.quantity, ev.price, price, atr, ev.ts, covered=covered)
        monitoring.add_short(ctx, pos)
        rolled = state.last_close.get((ev.account, ev.symbol, contract.right)) == ev.ts
        trigger = "sell_put" if contract.right == "P" else "sell_call"
        if w.state == ("cash" if contract.right == "P" else "stock"):
            ctx.machines.wheel.fire(w, trigger, "wheel.roll" if rolled else "wheel.open",
                                    (("premium", ev.price), ("quantity", ev.quantity)))
        ctx.fire("position.open", f"{ev.account} short {ev.quantity} {contract} at "
                 f"{ev.price:.2f}; protocol from {price:.2f}, ATR {atr:.2f}"
                 + (" (roll)" if rolled else ""))
        if rolled:
            _outcome(ctx, ev.account, ev.symbol, contract.right, "rolled", 0.0, replace=True)
        return
    if pos is None:  # BUY without a short: a long option
        ctx.fire("position.long_option", f"{name}: bought {ev.quantity} (long option, not "
                 "protocol-monitored)")
        return
    pnl = (pos.premium - ev.price) * 100 * min(ev.quantity, pos.quantity)
    if ev.quantity >= pos.quantity:
        monitoring.drop_short(ctx, pos)
        state.last_close[(ev.account, ev.symbol, contract.right)] = ev.ts
        trigger = "put_closed" if contract.right == "P" else "call_closed"
        ctx.machines.wheel.fire(w, trigger, "wheel.close", (("pnl", round(pnl, 2)),))
        _outcome(ctx, ev.account, ev.symbol, contract.right, "closed", pnl)
    else:
        pos.quantity -= ev.quantity
    ctx.fire("position.close", f"{name}: bought {ev.quantity} to close at {ev.price:.2f}, "
             f"P&L {pnl:,.2f}")
    track_losses(ctx, ev.account, realized_before)


def on_settlement(ctx: Ctx, ev: Assignment | Expiration) -> None:
    _check_account(ctx, ev.account)
    state = ctx.state
    pos = state.shorts.get((ev.account, ev.contract))
    realized_before = len(state.ledger.realized())
    state.ledger.apply(ev)
    w = wheel(ctx, ev.account, ev.symbol)
    premium = pos.premium if pos is not None else 0.0
    if pos is not None:
        if ev.quantity >= pos.quantity:
            monitoring.drop_short(ctx, pos)
        else:
            pos.quantity -= ev.quantity
    assigned = isinstance(ev, Assignment)
    if assigned:
        trigger = "put_assigned" if ev.right == "P" else "called_away"
        what = "assigned" if ev.right == "P" else "called_away"
    else:
        trigger = "put_expired" if ev.right == "P" else "call_expired"
        what = "expired"
    ctx.machines.wheel.fire(w, trigger, f"wheel.{what}", (("strike", ev.strike),))
    pnl = premium * 100 * ev.quantity if not assigned else 0.0
    _outcome(ctx, ev.account, ev.symbol, ev.right, what, pnl)
    ctx.fire(f"position.{what}", f"{ev.account} {ev.contract}: {ev.quantity} {what}")
    track_losses(ctx, ev.account, realized_before)
