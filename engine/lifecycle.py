"""Broker events through the wheel machine and the ledger; protocol-level actions; forks,
merges, circuit-breaker resumes and the weekly/quarterly cycles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from alluse.engine.accounts import split_amounts
from alluse.engine.calendar import NY
from alluse.engine.decisions import Value
from alluse.engine.errors import EventError
from alluse.engine.events import OptionContract
from alluse.engine.ledger import Key
from alluse.engine.policy.common import WEEKDAY_INDEX
from alluse.engine.protocol import ShortOption
from alluse.engine.tax import ForkGain, TaxRates, fork_gain

if TYPE_CHECKING:
    from alluse.engine.accounts import AccountInfo
    from alluse.engine.core import Engine
    from alluse.engine.events import Assignment, Clock, Expiration, Fill


def _check_account(eng: Engine, account: str) -> None:
    if account not in eng.tree.accounts:
        raise EventError(f"unknown account '{account}' (accounts: "
                         f"{', '.join(sorted(eng.tree.accounts))})", field="account")


def _contract_key(account: str, symbol: str, expiry: dt.date, strike: float, right: str) -> str:
    return f"{account}:{symbol}:{expiry.isoformat()}:{strike:g}{right}"


def on_fill(eng: Engine, ev: Fill) -> None:
    _check_account(eng, ev.account)
    realized_before = len(eng.ledger.realized())
    eng.ledger.apply(ev)
    wheel = eng.wheel(ev.account, ev.symbol)
    if ev.expiry is None or ev.strike is None or ev.right is None:  # stock trade
        eng.fire("ledger.stock_fill", f"{ev.account} {ev.side} {ev.quantity} {ev.symbol} at "
                 f"{ev.price:.2f}")
        if ev.side == "SELL" and eng.shares(ev.account, ev.symbol) == 0 and wheel.state == "stock":
            eng.machines.wheel.fire(wheel, "stock_sold", "wheel.stock_sold")
        elif ev.side == "BUY" and wheel.state == "cash" and eng.shares(ev.account, ev.symbol) >= 100:
            eng.machines.wheel.fire(wheel, "put_assigned", "wheel.stock_bought")
        _track_losses(eng, ev.account, realized_before, ev.ts)
        return
    key = _contract_key(ev.account, ev.symbol, ev.expiry, ev.strike, ev.right)
    pos = eng.shorts.get(key)
    if ev.side == "SELL":  # sell to open (or add to) a short option
        eng.pending.pop((ev.account, key), None)
        if pos is not None:
            total = pos.quantity + ev.quantity
            pos.premium = (pos.premium * pos.quantity + ev.price * ev.quantity) / total
            pos.quantity = total
            eng.fire("position.add", f"{key}: now short {total}")
            return
        st = eng.symbol(ev.symbol)
        price, atr = st.price, st.atr.value
        if price is None or atr is None or atr <= 0:
            eng.miss("protocols.monitor", f"{key}: no underlying price/ATR yet, the position "
                     "is not protocol-monitored until both are known")
            eng.alert("SYSTEM_STATUS", "HIGH", f"{key} opened without price/ATR: not monitored",
                      account=ev.account, rule="protocols.monitor")
            price = price if price is not None else ev.strike
            atr = atr if atr is not None and atr > 0 else float("inf")
        pos = ShortOption(ev.account, ev.symbol, ev.expiry, ev.strike, ev.right, ev.quantity,
                          ev.price, price, atr, ev.ts)
        eng.add_short(pos)
        rolled = eng.last_close.get((ev.account, ev.symbol, ev.right)) == ev.ts
        trigger = "sell_put" if ev.right == "P" else "sell_call"
        if wheel.state == ("cash" if ev.right == "P" else "stock"):
            eng.machines.wheel.fire(wheel, trigger, "wheel.roll" if rolled else "wheel.open",
                                    (("premium", ev.price), ("quantity", ev.quantity)))
        eng.fire("position.open", f"{ev.account} short {ev.quantity} {ev.symbol} {ev.expiry} "
                 f"{ev.strike:g}{ev.right} at {ev.price:.2f}; protocol from {price:.2f}, ATR "
                 f"{atr:.2f}" + (" (roll)" if rolled else ""))
        if rolled:
            _outcome(eng, ev.ts, ev.account, ev.symbol, ev.right, "rolled", 0.0, replace=True)
        return
    # BUY: buy to close a short option
    if pos is None:
        eng.fire("position.long_option", f"{key}: bought {ev.quantity} (long option, not "
                 "protocol-monitored)")
        return
    pnl = (pos.premium - ev.price) * 100 * min(ev.quantity, pos.quantity)
    if ev.quantity >= pos.quantity:
        eng.drop_short(pos)
        eng.last_close[(ev.account, ev.symbol, ev.right)] = ev.ts
        trigger = "put_closed" if ev.right == "P" else "call_closed"
        eng.machines.wheel.fire(wheel, trigger, "wheel.close", (("pnl", round(pnl, 2)),))
        _outcome(eng, ev.ts, ev.account, ev.symbol, ev.right, "closed", pnl)
    else:
        pos.quantity -= ev.quantity
    eng.fire("position.close", f"{key}: bought {ev.quantity} to close at {ev.price:.2f}, "
             f"P&L {pnl:,.2f}")
    _track_losses(eng, ev.account, realized_before, ev.ts)


def _outcome(eng: Engine, ts: dt.datetime, account: str, symbol: str, right: str, outcome: str,
             pnl: float, *, replace: bool = False) -> None:
    day = ts.astimezone(NY).date()
    if replace:
        for i in range(len(eng.outcomes) - 1, -1, -1):
            o = eng.outcomes[i]
            if o[1] == account and o[2] == symbol and o[3] == f"{right}:closed":
                eng.outcomes[i] = (o[0], o[1], o[2], f"{right}:rolled", o[4])
                return
    eng.outcomes.append((day, account, symbol, f"{right}:{outcome}", pnl))


def _track_losses(eng: Engine, account: str, before: int, ts: dt.datetime) -> None:
    new = [r for r in eng.ledger.realized()[before:] if r.account == account]
    if not new:
        return
    cb = eng.ps.risk.circuit_breakers
    for r in new:
        eng.loss_streak[account] = eng.loss_streak.get(account, 0) + 1 if r.amount < 0 else 0
    streak = eng.loss_streak.get(account, 0)
    acc = eng.tree.accounts[account]
    if streak >= cb.consecutive_losses and acc.state in ("active", "forked"):
        values: tuple[tuple[str, Value], ...] = (("consecutive_losses", streak),
                                                 ("limit", cb.consecutive_losses))
        eng.machines.account.fire(acc.model, "suspend", "risk.circuit_breakers.losses", values)
        eng.suspended_on[account] = ts.astimezone(NY).date()
        eng.fire("risk.circuit_breakers.losses", f"{account}: {streak} losing closes in a row ≥ "
                 f"{cb.consecutive_losses}: new entries paused until "
                 f"{cb.resume.replace('_', ' ')}", "", values)
        eng.alert("ACCOUNT_MANAGEMENT", "HIGH", f"Circuit breaker: {account} paused after "
                  f"{streak} consecutive losses", account=account,
                  rule="risk.circuit_breakers.losses")


def _end_position(eng: Engine, ev: Assignment | Expiration, assigned: bool) -> None:
    _check_account(eng, ev.account)
    key = _contract_key(ev.account, ev.symbol, ev.expiry, ev.strike, ev.right)
    pos = eng.shorts.get(key)
    realized_before = len(eng.ledger.realized())
    eng.ledger.apply(ev)
    wheel = eng.wheel(ev.account, ev.symbol)
    premium = pos.premium if pos is not None else 0.0
    if pos is not None:
        if ev.quantity >= pos.quantity:
            eng.drop_short(pos)
        else:
            pos.quantity -= ev.quantity
    if assigned:
        trigger = "put_assigned" if ev.right == "P" else "called_away"
        what = "assigned" if ev.right == "P" else "called_away"
    else:
        trigger = "put_expired" if ev.right == "P" else "call_expired"
        what = "expired"
    eng.machines.wheel.fire(wheel, trigger, f"wheel.{what}", (("strike", ev.strike),))
    pnl = premium * 100 * ev.quantity if not assigned else 0.0
    _outcome(eng, ev.ts, ev.account, ev.symbol, ev.right, what, pnl)
    eng.fire(f"position.{what}", f"{key}: {ev.quantity} {what}")
    _track_losses(eng, ev.account, realized_before, ev.ts)


def on_assignment(eng: Engine, ev: Assignment) -> None:
    _end_position(eng, ev, assigned=True)


def on_expiration(eng: Engine, ev: Expiration) -> None:
    _end_position(eng, ev, assigned=False)


def level_actions(eng: Engine, pos: ShortOption, price: float, mult: float, old: int, new: int,
                  rule: str, values: tuple[tuple[str, Value], ...]) -> None:
    """A level rose: alert at the level's priority, the level's script, optional automation."""
    lv = eng.ps.protocols.levels[new]
    title = (f"{pos.symbol} {pos.strike:g}{pos.right} ({pos.account}) L{old}→L{new} "
             f"{lv.name}: {mult:.2f}×ATR adverse")
    if lv.alert is not None:
        eng.alert(lv.alert.type, lv.alert.priority, title, account=pos.account,
                  body=f"Underlying {price:.2f}, entry {pos.entry_price:.2f}, ATR {pos.atr:.2f}.",
                  rule=rule)
    if lv.script is None:
        return
    q = eng.market[pos.symbol].quotes.get((pos.expiry, pos.strike, pos.right))
    intrinsic = max(pos.strike - price, 0.0) if pos.right == "P" else max(price - pos.strike, 0.0)
    bid, ask = (q.bid, q.ask) if q is not None else (intrinsic, intrinsic)
    names = {"symbol": pos.symbol, "account": pos.account, "right": pos.right,
             "strike": pos.strike, "expiry": pos.expiry.isoformat(), "quantity": pos.quantity,
             "price": price, "entry_price": pos.entry_price, "atr": pos.atr,
             "atr_multiple": mult, "level": new, "previous_level": old, "bid": bid, "ask": ask,
             "premium": pos.premium}
    idx = next(i for i, lvl in enumerate(eng.ps.protocols.levels) if lvl.level == new)
    approval = "automatic" if lv.automatic_action else None
    script = eng.render("protocols.yaml", ("levels", idx, "script"), lv.script, names,
                        account=pos.account, rule=rule, trigger_values=values, approval=approval)
    eng.b.scripts.append(script)


# ---------------------------------------------------------------------- accounts

def _tax(eng: Engine, account: AccountInfo, ts: dt.datetime) -> ForkGain:
    """The account's post-tax gain since its last fork (accounts.yaml tax; engine/tax.py)."""
    pol = eng.ps.accounts.tax
    rates = TaxRates.of(pol.short_term_rate, pol.long_term_rate)
    if pol.gains_basis == "realized":
        return fork_gain(eng.ledger, account.id, account.tax_cursor, rates)
    return fork_gain(eng.ledger, account.id, account.tax_cursor, rates, pol.gains_basis,
                     marks=_marks(eng, account.id), as_of=ts.astimezone(NY).date())


def _marks(eng: Engine, account: str) -> dict[Key, float | Decimal]:
    """The account's positions at the prices ``Engine.equity`` uses: stock at the last price (its
    basis when none yet), options at the quote's mid, else their intrinsic value."""
    marks: dict[Key, float | Decimal] = {}
    lots = eng.ledger.lots(account)
    for lot in lots:
        st = eng.market.get(lot.symbol)
        price = st.price if st is not None else None
        if lot.expiry is None or lot.strike is None or lot.right is None:
            same = [x for x in lots if x.symbol == lot.symbol and x.expiry is None]
            marks[lot.symbol] = price if price is not None else (
                sum(x.basis for x in same) / sum(x.quantity for x in same))
            continue
        q = st.quotes.get((lot.expiry, lot.strike, lot.right)) if st is not None else None
        intrinsic = (0.0 if price is None else max(lot.strike - price, 0.0) if lot.right == "P"
                     else max(price - lot.strike, 0.0))
        marks[OptionContract(lot.symbol, lot.expiry, lot.strike, lot.right)] = (
            q.mid if q is not None else intrinsic)
    return marks


def fork_and_merge(eng: Engine, ev: Clock) -> None:
    pol = eng.ps.accounts
    rules = {r.account_type: r for r in pol.fork}
    for acc in sorted(list(eng.tree.accounts.values()), key=lambda a: a.id):
        fr = rules.get(acc.type)
        # Forked-unit accounts grow toward a merge, not another fork (accounts.yaml).
        if fr is None or acc.state not in ("active", "fork_pending"):
            continue
        fg = _tax(eng, acc, ev.ts)
        gain, post = fg.gain, fg.post_tax
        rule = f"accounts.fork.{acc.type}"
        values: tuple[tuple[str, Value], ...] = (
            ("realized_gain", float(fg.realized)), ("tax", float(fg.tax)),
            ("post_tax_gain", float(post)), ("threshold", fr.threshold_post_tax_gain))
        if post < Decimal(str(fr.threshold_post_tax_gain)):
            continue
        # The realized gain leaves in cash: the tax is withheld, the rest funds the new unit. It
        # waits (fork pending) while open positions tie up the cash it needs.
        if eng.free_cash(acc.id) < gain:
            if acc.state != "fork_pending":
                eng.machines.account.fire(acc.model, "request_fork", rule, values)
                eng.fire(rule, f"{acc.id}: post-tax gain {post:,.2f} ≥ "
                         f"{fr.threshold_post_tax_gain:,.0f}; fork pending until {gain:,.2f} of "
                         f"cash is free (free now {eng.free_cash(acc.id):,.2f})", "", values)
            continue
        _fork(eng, acc.id, fr.split, fg, rule, values, ev.ts)
    _merges(eng, ev)


def _fork(eng: Engine, acc_id: str, split: dict[str, float], fg: ForkGain,
          rule: str, values: tuple[tuple[str, Value], ...], ts: dt.datetime) -> None:
    acc = eng.tree.accounts[acc_id]
    if acc.state == "active":
        eng.machines.account.fire(acc.model, "request_fork", rule, values)
    withheld = fg.tax if eng.ps.accounts.tax.withhold_at_fork else Decimal(0)
    moved = fg.gain - withheld
    if moved <= 0:
        return
    if withheld > 0:
        eng.ledger.transfer(acc_id, "TAX-WITHHELD", withheld, ts)
        eng.taxes_withheld += withheld
    unit = eng.tree.new_unit()
    created = []
    for t, amount in split_amounts(moved, dict(split)).items():
        child = eng.tree.add(t, unit, acc_id, amount, ts, True)
        child.model.state = "forked"
        eng.machines.account.add(child.model, "forked")
        eng.ledger.open_account(child.id, Decimal(0))
        eng.ledger.transfer(acc_id, child.id, amount, ts)
        created.append(child.id)
    acc.tax_cursor = fg.cursor
    eng.machines.account.fire(acc.model, "complete_fork", rule, values)
    eng.forks.append({"date": ts.astimezone(NY).date().isoformat(), "parent": acc_id,
                      "unit": unit, "accounts": created, "amount": str(moved),
                      "tax_withheld": str(withheld), "realized_index": fg.cursor.index})
    eng.fire(rule, f"{acc_id} forked {moved:,.2f} (post-tax, {withheld:,.2f} tax withheld) into "
             f"{' + '.join(created)}; {acc_id}'s realized gain resets to 0 over its initial "
             f"{acc.initial_capital:,.2f}", "", values)
    eng.alert("ACCOUNT_MANAGEMENT", "MEDIUM", f"Fork: {acc_id} → {', '.join(created)} "
              f"({moved:,.0f})", account=acc_id, rule=rule)


def _merges(eng: Engine, ev: Clock) -> None:
    pol = eng.ps.accounts.merge
    units = sorted({a.unit for a in eng.tree.accounts.values() if a.model.forked_unit})
    for unit in units:
        members = [a for a in eng.tree.unit_members(unit) if a.state in ("forked", "merging")]
        if not members:
            continue
        total = sum((eng.equity(a.id) for a in members), Decimal(0))
        if total < Decimal(str(pol.unit_total_threshold)):
            continue
        parent = eng.tree.accounts[members[0].parent or ""]
        target = next((a for a in eng.tree.unit_members(parent.unit)
                       if a.type == pol.into_account_type), None)
        if target is None:
            continue
        rule = "accounts.merge"
        values: tuple[tuple[str, Value], ...] = (("unit_total", float(total)),
                                                 ("threshold", pol.unit_total_threshold))
        for a in members:
            if a.state == "forked":
                eng.machines.account.fire(a.model, "start_merge", rule, values)
        if any(eng.has_open_positions(a.id) for a in members):
            eng.fire(rule, f"unit {unit} total {total:,.2f} ≥ {pol.unit_total_threshold:,.0f}: "
                     f"merging into {target.id} once flat", "", values)
            continue
        moved = Decimal(0)
        for a in members:
            amount = eng.ledger.cash(a.id)
            if amount > 0:
                eng.ledger.transfer(a.id, target.id, amount, ev.ts)
                moved += amount
            eng.machines.account.fire(a.model, "complete_merge", rule, values)
        eng.merges.append({"date": ev.ts.astimezone(NY).date().isoformat(), "unit": unit,
                           "accounts": [a.id for a in members], "into": target.id,
                           "amount": str(moved)})
        eng.fire(rule, f"unit {unit} ({', '.join(a.id for a in members)}) merged {moved:,.2f} "
                 f"into {target.id}", "", values)
        eng.alert("ACCOUNT_MANAGEMENT", "MEDIUM", f"Merge: unit {unit} → {target.id} "
                  f"({moved:,.0f})", rule=rule)


def resume_accounts(eng: Engine, ev: Clock) -> None:
    """Circuit breakers resume on the next trading day or week, per risk.yaml (never: manual)."""
    cb = eng.ps.risk.circuit_breakers
    if cb.resume == "manual":
        return
    today = ev.ts.astimezone(NY).date()
    for acc in sorted(eng.tree.accounts.values(), key=lambda a: a.id):
        if acc.state != "suspended":
            continue
        since = eng.suspended_on.get(acc.id)
        if since is None or since >= today:
            continue
        if cb.resume == "next_week" and today.isocalendar()[1] == since.isocalendar()[1]:
            continue
        eng.loss_streak[acc.id] = 0
        eng.machines.account.fire(acc.model, "resume", "risk.circuit_breakers.resume",
                                  (("suspended_on", since.isoformat()),))
        eng.fire("risk.circuit_breakers.resume", f"{acc.id}: resumed ({cb.resume})")


def daily_drawdown(eng: Engine, ev: Clock) -> None:
    """Circuit breaker: an account down ``daily_drawdown_pct`` from its equity at the day's first
    protocol check is paused (risk.yaml)."""
    cb = eng.ps.risk.circuit_breakers
    today = ev.ts.astimezone(NY).date()
    for acc in sorted(eng.tree.accounts.values(), key=lambda a: a.id):
        if acc.state not in ("active", "forked"):
            continue
        equity = eng.equity(acc.id)
        start = eng.day_start_equity.get(acc.id)
        if start is None or start[0] != today:
            eng.day_start_equity[acc.id] = (today, equity)
            continue
        if start[1] <= 0:
            continue
        down = float((start[1] - equity) / start[1] * 100)
        if down < cb.daily_drawdown_pct:
            continue
        rule = "risk.circuit_breakers.daily_drawdown"
        values: tuple[tuple[str, Value], ...] = (
            ("start_equity", float(start[1])), ("equity", float(equity)),
            ("drawdown_pct", round(down, 2)), ("limit_pct", cb.daily_drawdown_pct))
        eng.machines.account.fire(acc.model, "suspend", rule, values)
        eng.suspended_on[acc.id] = today
        eng.fire(rule, f"{acc.id}: down {down:.2f}% today ({float(start[1]):,.2f} → "
                 f"{float(equity):,.2f}) ≥ {cb.daily_drawdown_pct:g}%: new entries paused until "
                 f"{cb.resume.replace('_', ' ')}", "", values)
        eng.alert("ACCOUNT_MANAGEMENT", "HIGH", f"Circuit breaker: {acc.id} paused, down "
                  f"{down:.1f}% today", account=acc.id, rule=rule)


def weekly_cycle(eng: Engine, ev: Clock) -> None:
    """Classify last week's mode per symbol and the week type of each position outcome."""
    today = ev.ts.astimezone(NY).date()
    start = today - dt.timedelta(days=(today.weekday() - WEEKDAY_INDEX["mon"]) % 7 or 7)
    wt = eng.ps.week_types
    for symbol in sorted(eng.market):
        st = eng.market[symbol]
        if st.price is None or st.week_open is None or st.atr.value is None:
            st.week_open, st.week_high, st.week_low = st.price, float("-inf"), float("inf")
            continue
        names = {"week_return_pct": (st.price / st.week_open - 1) * 100,
                 "week_range_pct": (st.week_high - st.week_low) / st.week_open * 100,
                 "atr_pct": st.atr.value / st.price * 100}
        for mode, spec in wt.modes.items():
            res = eng.evaluator.test(eng.ps.expr("week_types.yaml", "modes", mode, "when"), names)
            if res.result:
                eng.fire(f"week_types.modes.{mode}", f"{symbol} week to {today}: {spec.label} "
                         f"({names['week_return_pct']:+.2f}%)", spec.when,
                         tuple((k, round(v, 4)) for k, v in names.items()))
                break
        st.week_open, st.week_high, st.week_low = st.price, float("-inf"), float("inf")
    for day, account, symbol, what, pnl in [o for o in eng.outcomes if o[0] >= start]:
        right, outcome = what.split(":")
        names2 = {"outcome": outcome, "right": right, "pnl": pnl}
        for code, wtype in wt.types.items():
            if eng.evaluator.test(eng.ps.expr("week_types.yaml", "types", code, "when"),
                                  names2).result:
                eng.fire(f"week_types.types.{code}", f"{account} {symbol} {day}: {wtype.label}")
                break
    eng.outcomes = [o for o in eng.outcomes if o[0] >= today]


def quarterly_cycle(eng: Engine, ev: Clock) -> None:
    for r in eng.ps.accounts.reinvestment:
        if r.cadence != "quarterly":
            continue
        for acc in sorted(eng.tree.accounts.values(), key=lambda a: a.id):
            if acc.type == r.account_type and acc.state in ("active", "forked"):
                eng.fire(f"accounts.reinvestment.{r.account_type}",
                         f"{acc.id}: reinvest {r.reinvest_pct:g}% of the quarter's gains; equity "
                         f"{eng.equity(acc.id):,.2f} sizes next quarter's trades")
