"""The entry scan: for each strategy, account and symbol pick expiry and strike, evaluate the
strategy's rules and the risk checks, then propose a trade (an action script) or say why not.

A strategy whose entry day is a market holiday either skips that entry or, with
``on_market_closed: next_trading_day``, defers it: the engine keeps the deferral in its state and
the first clock event of any enabled job inside the entry window on the next session runs the
entry (the entry job itself fires only on entry days: Thanksgiving Thursday's entry runs at the
Friday's first job from 10:00, e.g. premium_sample). `deferred_due` tells `Engine.data_needs`
which chains that event needs. A deferral no job reached in its window is dropped with a trace.

Below a premium minimum with ``on_fail: hitl_alert`` the human in the loop gets an alert that
says no trade was made and why, with the numbers. A rule that cannot be evaluated (division by
zero) is an error in the decision, never a failed clause that would claim a number is too low.
Strike methods are a registry keyed by the YAML ``strike.method`` value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alluse.engine import portfolio, risk
from alluse.engine.accounts import AccountInfo
from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.commands import order_id
from alluse.engine.context import Ctx, Values
from alluse.engine.events import OptionContract
from alluse.engine.expressions import what_would_differ
from alluse.engine.market import Quote, QuoteKey
from alluse.engine.policy import PolicySet
from alluse.engine.policy.models import StrategyPolicy, StrikeSelection
from alluse.engine.policy.rules import rule_id
from alluse.engine.pricing import bs_greeks, implied_vol
from alluse.engine.scripts import fill_text
from alluse.engine.state import EngineState, Reservation
from alluse.engine.wheel import wheel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Candidate = tuple[QuoteKey, Quote]


@dataclass(frozen=True, slots=True)
class ChainRequest:
    """Quotes a job needs before it runs: a symbol's chain for these expiries and rights."""

    symbol: str
    expiries: tuple[dt.date, ...]
    rights: tuple[str, ...]


def _vals(names: dict[str, Any], keys: tuple[str, ...]) -> Values:
    out: list[tuple[str, Any]] = []
    for k in keys:
        v = names.get(k)
        out.append((k, round(v, 4) if isinstance(v, float) else v))
    return tuple(out)


def chain_requests(ps: PolicySet, state: EngineState, calendar: MarketCalendar, job: str,
                   ts: dt.datetime) -> list[ChainRequest]:
    """The chains the strategies entering on ``job`` at ``ts`` will scan, deferred entries due then
    included (and covered calls on held stock)."""
    due = set(deferred_due(ps, state, ts))
    names = [n for n, st in ps.strategies.items()
             if st.enabled and (st.entry.job == job or n in due)]
    return _chains(ps, state, calendar, names, ts.astimezone(NY).date())


def deferred_due(ps: PolicySet, state: EngineState, ts: dt.datetime) -> list[str]:
    """Strategies whose deferred entry runs at ``ts``: its session, inside the entry window."""
    local = ts.astimezone(NY)
    today, hhmm = local.date(), local.strftime("%H:%M")
    out = []
    for name, (day, _) in sorted(state.deferred_entries.items()):
        st = ps.strategies.get(name)
        if st is not None and st.enabled and day == today and \
                st.entry.window.start <= hhmm < st.entry.window.end:
            out.append(name)
    return out


def _chains(ps: PolicySet, state: EngineState, calendar: MarketCalendar, names: list[str],
            today: dt.date) -> list[ChainRequest]:
    wanted: dict[str, tuple[set[dt.date], set[str]]] = {}

    def want(symbol: str, right: str, dmin: int, dmax: int) -> None:
        exps, rights = wanted.setdefault(symbol, (set(), set()))
        rights.add(right)
        e = calendar.weekly_expiry(today)
        while (e - today).days <= dmax:
            if (e - today).days >= dmin:
                exps.add(e)
            e = calendar.weekly_expiry(e + dt.timedelta(days=1))

    for name in names:
        st = ps.strategies[name]
        for symbol in st.symbols:
            want(symbol, "P", st.dte.min, st.dte.max)
        if st.covered_calls is not None and st.covered_calls.enabled:
            for acc in state.tree.accounts.values():
                if acc.type == st.account_type:
                    for symbol in portfolio.stock_symbols(state, acc.id):
                        want(symbol, "C", st.covered_calls.dte.min, st.covered_calls.dte.max)
    return [ChainRequest(sym, tuple(sorted(exps)), tuple(sorted(rights)))
            for sym, (exps, rights) in sorted(wanted.items()) if exps]


def entry_scan(ctx: Ctx, job: str) -> None:
    local = ctx.ts.astimezone(NY)
    today, hhmm = local.date(), local.strftime("%H:%M")
    for name, st in ctx.ps.strategies.items():
        if st.entry.job != job:
            continue
        rule = rule_id(f"strategies/{name}", "entry")
        if not st.enabled:
            ctx.miss(rule, "strategy is disabled (enabled: false)", step="enabled")
            continue
        day = WEEKDAYS[local.weekday()]
        if day not in st.entry.days:
            ctx.miss(rule, f"{day} is not an entry day ({', '.join(st.entry.days)})", step="day")
            continue
        win = st.entry.window
        if not win.start <= hhmm < win.end:
            ctx.miss(rule, f"{hhmm} ET is outside the entry window {win.start}-{win.end}",
                     step="window")
            continue
        if not ctx.calendar.is_session(today):
            _market_closed(ctx, name, st, today)
            continue
        deferred = ctx.state.deferred_entries.get(name)
        if deferred is not None and deferred[0] == today:  # this scan is the deferred one
            del ctx.state.deferred_entries[name]
        _enter(ctx, name, st, today)


def _market_closed(ctx: Ctx, name: str, st: StrategyPolicy, today: dt.date) -> None:
    rule = rule_id(f"strategies/{name}", "entry")
    if st.entry.on_market_closed == "skip":
        ctx.miss(rule, f"{today} is not an NYSE trading day; on_market_closed: skip",
                 step="market_closed")
        return
    nxt = ctx.calendar.next_session(today)
    ctx.state.deferred_entries[name] = (nxt, today)
    ctx.miss(rule, f"{today} is not an NYSE trading day; on_market_closed: next_trading_day: the "
             f"entry runs on {nxt} at the first job in {st.entry.window.start}-"
             f"{st.entry.window.end}", step="market_closed")


def run_deferred(ctx: Ctx, job: str) -> None:
    """Entries deferred from a closed day whose window is open now (any job's clock event but
    the strategy's own entry job, whose scan takes the deferral over); deferrals whose session or
    window passed without one are dropped, with a trace."""
    state = ctx.state
    local = ctx.ts.astimezone(NY)
    today, hhmm = local.date(), local.strftime("%H:%M")
    due = set(deferred_due(ctx.ps, state, ctx.ts))
    for name, (day, origin) in sorted(state.deferred_entries.items()):
        st = ctx.ps.strategies.get(name)
        rule = rule_id(f"strategies/{name}", "entry")
        if name in due and st is not None and st.entry.job == job and \
                WEEKDAYS[local.weekday()] in st.entry.days:
            continue
        if name in due and st is not None:
            del state.deferred_entries[name]
            ctx.fire(rule, f"{origin} was closed: the entry deferred to {day} runs now "
                     "(on_market_closed: next_trading_day)", step="deferred")
            _enter(ctx, name, st, today)
        elif st is None or not st.enabled or today > day or (
                today == day and hhmm >= st.entry.window.end):
            del state.deferred_entries[name]
            ctx.miss(rule, f"the entry deferred from {origin} to {day} found no clock event in "
                     "its window (or its strategy is gone or disabled): skipped",
                     step="deferred")


def _enter(ctx: Ctx, name: str, st: StrategyPolicy, today: dt.date) -> None:
    """A strategy's entry on a session inside its window: every account of its type."""
    rule = rule_id(f"strategies/{name}", "entry")
    close = ctx.calendar.close_time(today)
    if close is not None and close < dt.time(16) and st.entry.on_early_close == "skip":
        ctx.miss(rule, f"{today} closes early at {close:%H:%M}; on_early_close: skip",
                 step="early_close")
        return
    for acc in sorted((a for a in ctx.state.tree.accounts.values()
                       if a.type == st.account_type), key=lambda a: a.id):
        if acc.state not in ("active", "forked"):
            ctx.miss(rule, f"{acc.id} is {acc.state}: no new entries", step="account_state")
            continue
        for symbol in st.symbols:
            _scan(ctx, name, st, acc, symbol, right="P")
        if st.covered_calls is not None and st.covered_calls.enabled:
            for symbol in sorted(portfolio.stock_symbols(ctx.state, acc.id)):
                _scan(ctx, name, st, acc, symbol, right="C")


def _delta(ctx: Ctx, q: Quote, right: str, price: float, strike: float, t: float) -> float | None:
    if q.delta is not None:
        return q.delta
    iv = q.iv
    if iv is None and q.mid > 0:
        iv = implied_vol(q.mid, right, price, strike, max(t, 1e-4), ctx.risk_free_rate)  # type: ignore[arg-type]
    if iv is None:
        return None
    return bs_greeks(right, price, strike, max(t, 1e-4), ctx.risk_free_rate, iv).delta  # type: ignore[arg-type]


Picked = tuple[Candidate, str, float | None]


def _atm(ctx: Ctx, sel: StrikeSelection, cands: list[Candidate], right: str, price: float,
         atr: float, t: float) -> Picked:
    best = min(cands, key=lambda kq: (abs(kq[0][1] - price), kq[0][1]))
    return best, f"ATM: strike nearest {price:.2f}", None


def _atr_offset(ctx: Ctx, sel: StrikeSelection, cands: list[Candidate], right: str,
                price: float, atr: float, t: float) -> Picked:
    target = price - sel.atr_multiple * atr if right == "P" else price + sel.atr_multiple * atr
    if right == "P":
        below = [kq for kq in cands if kq[0][1] <= target]
        best = max(below, key=lambda kq: kq[0][1]) if below else min(cands, key=lambda kq: kq[0][1])
    else:
        above = [kq for kq in cands if kq[0][1] >= target]
        best = min(above, key=lambda kq: kq[0][1]) if above else max(cands, key=lambda kq: kq[0][1])
    how = (f"price {price:.2f} {'−' if right == 'P' else '+'} {sel.atr_multiple:g}×ATR "
           f"{atr:.2f} = {target:.2f} → listed strike {best[0][1]:g}")
    return best, how, None


def _delta_band(ctx: Ctx, sel: StrikeSelection, cands: list[Candidate], right: str,
                price: float, atr: float, t: float) -> Picked:
    mid = (sel.delta_min + sel.delta_max) / 2
    scored = []
    for kq in cands:
        d = _delta(ctx, kq[1], right, price, kq[0][1], t)
        if d is not None:
            scored.append((abs(abs(d) - mid), kq[0][1], kq, d))
    if not scored:
        return _atm(ctx, sel, cands, right, price, atr, t)[0], \
            "no delta available: nearest strike to the price", None
    _, _, best, d = min(scored, key=lambda s: (s[0], s[1]))
    return best, (f"|delta| {abs(d):.3f} nearest the {sel.delta_min:g}-{sel.delta_max:g} band "
                  f"→ strike {best[0][1]:g}"), d


STRIKE_METHODS: dict[str, Callable[[Ctx, StrikeSelection, list[Candidate], str, float, float,
                                    float], Picked]] = {
    "atm": _atm, "atr_offset": _atr_offset, "delta_band": _delta_band}


def _scan(ctx: Ctx, name: str, st: StrategyPolicy, acc: AccountInfo, symbol: str, *,
          right: str) -> None:
    state = ctx.state
    file = f"strategies/{name}.yaml"
    base = rule_id(file, "entry" if right == "P" else "covered_calls")
    if symbol in ctx.ps.risk.blacklist:
        ctx.miss(rule_id("risk", "blacklist"), f"{symbol} is blacklisted in risk.yaml")
        return
    mk = state.market.get(symbol)
    if mk is None or mk.price is None:
        ctx.miss(base, f"{acc.id} {symbol}: no underlying price yet", step="data")
        return
    atr = mk.atr.value
    if atr is None:
        ctx.miss(base, f"{acc.id} {symbol}: ATR({mk.atr.period}) needs {mk.atr.period} daily "
                 "bars first", step="data")
        return
    price = mk.price
    wstate = wheel(ctx, acc.id, symbol).state
    if right == "P" and wstate in ("stock", "covered_call"):
        ctx.miss(base, f"{acc.id} {symbol}: the wheel holds stock ({wstate}); covered calls, "
                 "not puts", step="wheel")
        return
    if right == "C" and wstate != "stock":
        return
    open_n = sum(1 for p in state.shorts.values()
                 if p.account == acc.id and p.symbol == symbol and p.right == right)
    if open_n >= st.max_open_per_symbol:
        ctx.miss(base, f"{acc.id} {symbol}: {open_n} open {right} position(s), "
                 f"max_open_per_symbol {st.max_open_per_symbol}", step="max_open")
        return
    today = ctx.today
    cc = st.covered_calls if right == "C" else None
    dte_rng = cc.dte if cc is not None else st.dte
    quotes = [(k, q) for k, q in mk.quotes.items()
              if k[2] == right and dte_rng.min <= (k[0] - today).days <= dte_rng.max and q.ask > 0]
    if not quotes:
        ctx.miss(base, f"{acc.id} {symbol}: no {right} quotes with DTE "
                 f"{dte_rng.min}-{dte_rng.max}", step="data")
        return
    expiry = (min if dte_rng.prefer == "nearest" else max)(k[0] for k, _ in quotes)
    cands = sorted(((k, q) for k, q in quotes if k[0] == expiry), key=lambda kq: kq[0][1])
    dte = (expiry - today).days
    t_years = max(dte, 0.25) / 365.0
    sel = cc.strike if cc is not None else st.strike
    if cc is not None and cc.min_strike_vs_basis == "at_or_above_basis":
        basis = portfolio.basis_per_share(state, acc.id, symbol)
        cands = [kq for kq in cands if kq[0][1] >= basis] or cands[-1:]
    (key, q), how, delta = STRIKE_METHODS[sel.method](ctx, sel, cands, right, price, atr, t_years)
    strike = key[1]
    premium = q.mid if st.premium.price == "mid" else q.bid
    if delta is None:
        delta = _delta(ctx, q, right, price, strike, t_years)
    names: dict[str, Any] = {
        "symbol": symbol, "right": right, "price": price, "atr": atr, "strike": strike,
        "premium": premium, "premium_pct": premium / strike * 100.0,
        "min_premium_pct": cc.min_premium_pct if cc is not None else st.premium.min_pct,
        "target_weekly_pct": st.premium.target_weekly_pct,
        "dte": dte, "delta": delta if delta is not None else 0.0, "iv": q.iv or 0.0,
        "rsi": mk.rsi.value or 50.0,
        "macd_hist": mk.macd.value.histogram if mk.macd.value is not None else 0.0,
        "account_equity": float(portfolio.equity(state, acc.id)),
        "account_cash": float(state.ledger.cash(acc.id)),
        "open_positions": open_n, "bid": q.bid, "ask": q.ask, "expiry": expiry.isoformat(),
        "account": acc.id,
    }
    dedupe = (name + right, acc.id, symbol, expiry)
    if dedupe in state.proposed:
        ctx.miss(base, f"{acc.id} {symbol}: already proposed for the {expiry} expiry",
                 step="once")
        return
    ctx.fire(base, f"{acc.id} {symbol} {expiry} (DTE {dte}): {how}", step="strike")
    if not _rules_pass(ctx, name, st, acc, symbol, right, names, file):
        return
    svalues: Values
    if right == "C":
        held = portfolio.shares(state, acc.id, symbol)
        qty = held // 100 - open_n
        binding, why = "wheel.covered", "covered by shares held"  # an engine fact, not a policy rule
        svalues = (("shares", held),)
    else:
        qty, binding, why, svalues = risk.size(ctx, acc, right, strike, premium, atr)
    if qty < 1:
        ctx.miss(binding, f"{acc.id} {symbol}: 0 contracts allowed — {why}", "", svalues,
                 step="size")
        return
    names["quantity"] = qty
    # what the human sees beside the proposal: the indicators (data.yaml periods) and the target
    trigger = _vals(names, ("symbol", "price", "atr", "strike", "premium", "premium_pct",
                            "min_premium_pct", "target_weekly_pct", "dte", "quantity", "rsi",
                            "macd_hist"))
    script = ctx.render(file, ("script",), st.script, names, account=acc.id, rule=base,
                        trigger_values=trigger, underlying_price=price)
    ctx.out.scripts.append(script)
    state.proposed.add(dedupe)
    if right == "P":
        contract = OptionContract(symbol, expiry, strike, "P")
        ids = tuple(order_id(script.id, i) for i, s in enumerate(script.steps, 1)
                    if s.kind == "order")
        state.pending[(acc.id, contract)] = Reservation(100.0 * strike * qty, script.expires_at,
                                                        ids)
        unit = risk.per_contract(ctx.ps.risk.daily_limit, atr, strike, premium)
        state.daily_risk[(acc.id, today)] = state.daily_risk.get((acc.id, today), 0.0) + unit * qty
    ctx.fire(base, f"{acc.id}: propose SELL_TO_OPEN {qty} {symbol} {expiry} {strike:g}{right} at "
             f"~{premium:.2f} ({names['premium_pct']:.2f}% ≥ {names['min_premium_pct']:g}%); size "
             f"{qty} ({why}); approval {script.approval}", "", trigger + svalues)
    ctx.alert("TRADE_OPPORTUNITY", None, script.title, account=acc.id, body=script.render_text(),
              rule=base)


def _rules_pass(ctx: Ctx, name: str, st: StrategyPolicy, acc: AccountInfo, symbol: str,
                right: str, names: dict[str, Any], file: str) -> bool:
    for i, rule in enumerate(st.rules):
        if right not in rule.rights:
            continue
        expr = ctx.ps.expr(file, "rules", i, "if")
        res = ctx.evaluator.test(expr, names)
        values = tuple((k, round(v, 4) if isinstance(v, float) else v)
                       for k, v in res.values.items())
        rid = rule_id(file, "rules", rule.id)
        if res.error is not None:
            ctx.error(rid, f"{acc.id} {symbol}: the rule could not be evaluated: {res.error}; "
                      "no trade was proposed", rule.if_, values)
            ctx.alert("TECHNICAL_ALERT", "HIGH", f"Rule {rid} failed to evaluate for {symbol} "
                      f"({acc.id}): no trade was proposed", account=acc.id,
                      body=f"{rule.if_}: {res.error}", rule=rid)
            return False
        if res.result:
            ctx.fire(rid, f"{acc.id} {symbol}: " + "; ".join(c.failing for c in res.clauses),
                     rule.if_, values)
            continue
        failed = res.failed
        reason = f"{acc.id} {symbol}: {failed.failing if failed else rule.if_}"
        needed = what_would_differ(failed) if failed else ""
        if needed:
            reason += f" (would fire with {needed})"
        ctx.miss(rid, reason, rule.if_, values)
        if rule.on_fail == "hitl_alert" and rule.alert is not None:
            text = fill_text(rule.message, names) if rule.message else reason
            ctx.alert(rule.alert.type, rule.alert.priority, f"{text} — no trade was made",
                      account=acc.id, body=f"Rule {rid} ({rule.if_}) failed: {reason}. "
                      "A human decides whether to trade.", rule=rid)
        return False
    return True
