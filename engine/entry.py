"""The entry scan: for each strategy, account and symbol pick expiry and strike, evaluate the
strategy's rules and the risk checks, then propose a trade (an action script) or say why not.

Below a premium minimum with ``on_fail: hitl_alert`` the human in the loop gets an alert that
says no trade was made and why, with the numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from alluse.engine.calendar import NY
from alluse.engine.decisions import Value
from alluse.engine.expressions import what_would_differ
from alluse.engine.market import Quote, QuoteKey
from alluse.engine.policy.models import Limit, StrategyPolicy, StrikeSelection
from alluse.engine.pricing import bs_greeks, implied_vol
from alluse.engine.scripts import fill_text

if TYPE_CHECKING:
    from alluse.engine.accounts import AccountInfo
    from alluse.engine.core import Engine
    from alluse.engine.events import Clock

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _vals(names: dict[str, Any], keys: tuple[str, ...]) -> tuple[tuple[str, Value], ...]:
    out: list[tuple[str, Value]] = []
    for k in keys:
        v = names.get(k)
        out.append((k, round(v, 4) if isinstance(v, float) else v))
    return tuple(out)


def entry_scan(eng: Engine, ev: Clock) -> None:
    local = ev.ts.astimezone(NY)
    today, hhmm = local.date(), local.strftime("%H:%M")
    for name, st in eng.ps.strategies.items():
        if st.entry.job != ev.name:
            continue
        rule = f"{name}.entry"
        if not st.enabled:
            eng.miss(rule, "strategy is disabled (enabled: false)")
            continue
        day = WEEKDAYS[local.weekday()]
        if day not in st.entry.days:
            eng.miss(f"{rule}.day", f"{day} is not an entry day ({', '.join(st.entry.days)})")
            continue
        win = st.entry.window
        if not win.start <= hhmm < win.end:
            eng.miss(f"{rule}.window", f"{hhmm} ET is outside the entry window "
                     f"{win.start}-{win.end}")
            continue
        if not eng.calendar.is_session(today):
            eng.miss(f"{rule}.market_closed", f"{today} is not an NYSE trading day; "
                     f"on_market_closed: {st.entry.on_market_closed}")
            continue
        close = eng.calendar.close_time(today)
        if close is not None and close < dt.time(16) and st.entry.on_early_close == "skip":
            eng.miss(f"{rule}.early_close", f"{today} closes early at {close:%H:%M}; "
                     "on_early_close: skip")
            continue
        for acc in sorted((a for a in eng.tree.accounts.values()
                           if a.type == st.account_type), key=lambda a: a.id):
            if acc.state not in ("active", "forked"):
                eng.miss(f"{rule}.account_state", f"{acc.id} is {acc.state}: no new entries")
                continue
            for symbol in st.symbols:
                _scan(eng, name, st, acc, symbol, today, right="P")
            if st.covered_calls is not None and st.covered_calls.enabled:
                for symbol in sorted(eng.stock_symbols(acc.id)):
                    _scan(eng, name, st, acc, symbol, today, right="C")


def _delta(eng: Engine, q: Quote, right: str, price: float, strike: float, t: float) -> float | None:
    if q.delta is not None:
        return q.delta
    iv = q.iv
    if iv is None and q.mid > 0:
        iv = implied_vol(q.mid, right, price, strike, max(t, 1e-4), eng.risk_free_rate)  # type: ignore[arg-type]
    if iv is None:
        return None
    return bs_greeks(right, price, strike, max(t, 1e-4), eng.risk_free_rate, iv).delta  # type: ignore[arg-type]


def _pick(eng: Engine, sel: StrikeSelection, cands: list[tuple[QuoteKey, Quote]], right: str,
          price: float, atr: float, t: float) -> tuple[tuple[QuoteKey, Quote], str, float | None]:
    if sel.method == "atm":
        best = min(cands, key=lambda kq: (abs(kq[0][1] - price), kq[0][1]))
        return best, f"ATM: strike nearest {price:.2f}", None
    if sel.method == "atr_offset":
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
    mid = (sel.delta_min + sel.delta_max) / 2
    scored = []
    for kq in cands:
        d = _delta(eng, kq[1], right, price, kq[0][1], t)
        if d is not None:
            scored.append((abs(abs(d) - mid), kq[0][1], kq, d))
    if not scored:
        best = min(cands, key=lambda kq: (abs(kq[0][1] - price), kq[0][1]))
        return best, "no delta available: nearest strike to the price", None
    _, _, best, d = min(scored, key=lambda s: (s[0], s[1]))
    return best, (f"|delta| {abs(d):.3f} nearest the {sel.delta_min:g}-{sel.delta_max:g} band "
                  f"→ strike {best[0][1]:g}"), d


def _per_contract(limit: Limit, atr: float, strike: float, premium: float) -> float:
    if limit.measure == "atr_risk":
        return 100.0 * atr * limit.atr_multiple
    if limit.measure == "collateral":
        return 100.0 * strike
    return 100.0 * premium


def _size(eng: Engine, acc: AccountInfo, symbol: str, right: str, strike: float, premium: float,
          atr: float, today: dt.date) -> tuple[int, str, str, tuple[tuple[str, Value], ...]]:
    """Contracts allowed by every limit; returns (qty, binding rule, explanation, values)."""
    risk = eng.ps.risk
    equity = float(eng.equity(acc.id))
    pos_unit = _per_contract(risk.position_limit, atr, strike, premium)
    day_unit = _per_contract(risk.daily_limit, atr, strike, premium)
    pos_cap = equity * risk.position_limit.max_pct_of_account / 100
    used = eng.daily_risk.get((acc.id, today), 0.0)
    day_cap = equity * risk.daily_limit.max_pct_of_account / 100 - used
    caps: list[tuple[int, str, str]] = [
        (math.floor(pos_cap / pos_unit) if pos_unit > 0 else 0, "risk.position_limit",
         f"one contract risks {pos_unit:,.0f} ({risk.position_limit.measure}); limit "
         f"{risk.position_limit.max_pct_of_account:g}% of equity {equity:,.0f} = {pos_cap:,.0f}"),
        (math.floor(day_cap / day_unit) if day_unit > 0 else 0, "risk.daily_limit",
         f"one contract uses {day_unit:,.0f} of today's {risk.daily_limit.max_pct_of_account:g}% "
         f"budget; {max(day_cap, 0):,.0f} of {equity * risk.daily_limit.max_pct_of_account / 100:,.0f} "
         "left"),
    ]
    if right == "P" and risk.collateral.cash_secured:
        free = float(eng.free_cash(acc.id)) * risk.collateral.max_pct_of_cash / 100
        caps.append((math.floor(free / (100 * strike)), "risk.collateral",
                     f"cash-secured: {100 * strike:,.0f} per contract, {free:,.0f} free cash"))
    level = eng.max_level(acc.id)
    lv = eng.ps.protocols.levels[level]
    qty, binding, why = min(caps, key=lambda c: c[0])
    if lv.new_risk == "blocked":
        qty, binding, why = 0, "risk.protocol_new_risk", (
            f"{acc.id} has a position at L{level} ({lv.name}): new risk blocked")
    elif lv.new_risk == "reduced":
        reduced = math.floor(qty * lv.size_factor)
        if reduced < qty:
            qty, binding, why = reduced, "risk.protocol_new_risk", (
                f"{acc.id} has a position at L{level} ({lv.name}): size × {lv.size_factor:g}")
    values: tuple[tuple[str, Value], ...] = (
        *((rule.split(".")[-1] + "_max", c) for c, rule, _ in caps),
        ("equity", round(equity, 2)), ("protocol_level", level))
    return qty, binding, why, values


def _scan(eng: Engine, name: str, st: StrategyPolicy, acc: AccountInfo, symbol: str,
          today: dt.date, *, right: str) -> None:
    base = f"{name}.entry" if right == "P" else f"{name}.covered_call"
    file = f"strategies/{name}.yaml"
    if symbol in eng.ps.risk.blacklist:
        eng.miss("risk.blacklist", f"{symbol} is blacklisted in risk.yaml")
        return
    mk = eng.market.get(symbol)
    if mk is None or mk.price is None:
        eng.miss(f"{base}.data", f"{acc.id} {symbol}: no underlying price yet")
        return
    atr = mk.atr.value
    if atr is None:
        eng.miss(f"{base}.data", f"{acc.id} {symbol}: ATR({mk.atr.period}) needs "
                 f"{mk.atr.period} daily bars first")
        return
    price = mk.price
    wheel = eng.wheel(acc.id, symbol).state
    if right == "P" and wheel in ("stock", "covered_call"):
        eng.miss(f"{base}.wheel", f"{acc.id} {symbol}: the wheel holds stock ({wheel}); "
                 "covered calls, not puts")
        return
    if right == "C" and wheel != "stock":
        return
    open_n = sum(1 for p in eng.shorts.values()
                 if p.account == acc.id and p.symbol == symbol and p.right == right)
    if open_n >= st.max_open_per_symbol:
        eng.miss(f"{base}.max_open", f"{acc.id} {symbol}: {open_n} open {right} position(s), "
                 f"max_open_per_symbol {st.max_open_per_symbol}")
        return
    dte_rng = st.dte if right == "P" or st.covered_calls is None else st.covered_calls.dte
    quotes = [(k, q) for k, q in mk.quotes.items()
              if k[2] == right and dte_rng.min <= (k[0] - today).days <= dte_rng.max and q.ask > 0]
    if not quotes:
        eng.miss(f"{base}.data", f"{acc.id} {symbol}: no {right} quotes with DTE "
                 f"{dte_rng.min}-{dte_rng.max}")
        return
    expiry = (min if dte_rng.prefer == "nearest" else max)(k[0] for k, _ in quotes)
    cands = sorted(((k, q) for k, q in quotes if k[0] == expiry), key=lambda kq: kq[0][1])
    dte = (expiry - today).days
    t_years = max(dte, 0.25) / 365.0
    sel = st.strike if right == "P" or st.covered_calls is None else st.covered_calls.strike
    if right == "C" and st.covered_calls is not None and \
            st.covered_calls.min_strike_vs_basis == "at_or_above_basis":
        basis = eng.basis_per_share(acc.id, symbol)
        cands = [kq for kq in cands if kq[0][1] >= basis] or cands[-1:]
    (key, q), how, delta = _pick(eng, sel, cands, right, price, atr, t_years)
    strike = key[1]
    premium = q.mid if st.premium.price == "mid" else q.bid
    if delta is None:
        delta = _delta(eng, q, right, price, strike, t_years)
    names: dict[str, Any] = {
        "symbol": symbol, "right": right, "price": price, "atr": atr, "strike": strike,
        "premium": premium, "premium_pct": premium / strike * 100.0,
        "min_premium_pct": st.premium.min_pct if right == "P" or st.covered_calls is None
        else st.covered_calls.min_premium_pct,
        "target_weekly_pct": st.premium.target_weekly_pct,
        "dte": dte, "delta": delta if delta is not None else 0.0, "iv": q.iv or 0.0,
        "rsi": mk.rsi.value or 50.0,
        "macd_hist": mk.macd.value.histogram if mk.macd.value is not None else 0.0,
        "account_equity": float(eng.equity(acc.id)), "account_cash": float(eng.ledger.cash(acc.id)),
        "open_positions": open_n, "bid": q.bid, "ask": q.ask, "expiry": expiry.isoformat(),
        "account": acc.id,
    }
    dedupe = (name + right, acc.id, f"{symbol}:{expiry.isoformat()}")
    if dedupe in eng.proposed:
        eng.miss(f"{base}.once", f"{acc.id} {symbol}: already proposed for the {expiry} expiry")
        return
    eng.fire(f"{base}.strike", f"{acc.id} {symbol} {expiry} (DTE {dte}): {how}")
    for i, rule in enumerate(st.rules):
        if right not in rule.rights:
            continue
        expr = eng.ps.expr(file, "rules", i, "if")
        res = eng.evaluator.test(expr, names)
        values = tuple((k, round(v, 4) if isinstance(v, float) else v)
                       for k, v in res.values.items())
        rid = f"{name}.{rule.id}"
        if res.result:
            eng.fire(rid, f"{acc.id} {symbol}: " + "; ".join(c.failing for c in res.clauses),
                     rule.if_, values)
            continue
        failed = res.failed
        reason = f"{acc.id} {symbol}: {failed.failing if failed else rule.if_}"
        needed = what_would_differ(failed.text, names) if failed else ""
        if needed:
            reason += f" (would fire with {needed})"
        eng.miss(rid, reason, rule.if_, values)
        if rule.on_fail == "hitl_alert" and rule.alert is not None:
            text = fill_text(rule.message, names) if rule.message else reason
            eng.alert(rule.alert.type, rule.alert.priority, f"{text} — no trade was made",
                      account=acc.id, body=f"Rule {rid} ({rule.if_}) failed: {reason}. "
                      "A human decides whether to trade.", rule=rid)
        return
    svalues: tuple[tuple[str, Value], ...]
    if right == "C":
        qty = eng.shares(acc.id, symbol) // 100 - open_n
        binding, why = "wheel.covered", "covered by shares held"
        svalues = (("shares", eng.shares(acc.id, symbol)),)
    else:
        qty, binding, why, svalues = _size(eng, acc, symbol, right, strike, premium, atr, today)
    if qty < 1:
        eng.miss(binding, f"{acc.id} {symbol}: 0 contracts allowed — {why}", "", svalues)
        return
    names["quantity"] = qty
    trigger = _vals(names, ("symbol", "price", "atr", "strike", "premium", "premium_pct",
                            "min_premium_pct", "dte", "quantity"))
    script = eng.render(file, ("script",), st.script, names, account=acc.id, rule=base,
                        trigger_values=trigger)
    eng.b.scripts.append(script)
    eng.proposed.add(dedupe)
    if right == "P":
        contract = f"{acc.id}:{symbol}:{expiry.isoformat()}:{strike:g}{right}"
        eng.pending[(acc.id, contract)] = (100.0 * strike * qty, script.expires_at)
        unit = _per_contract(eng.ps.risk.daily_limit, atr, strike, premium)
        eng.daily_risk[(acc.id, today)] = eng.daily_risk.get((acc.id, today), 0.0) + unit * qty
    eng.fire(base, f"{acc.id}: propose SELL_TO_OPEN {qty} {symbol} {expiry} {strike:g}{right} at "
             f"~{premium:.2f} ({names['premium_pct']:.2f}% ≥ {names['min_premium_pct']:g}%); size "
             f"{qty} ({why}); approval {script.approval}", "", trigger + svalues)
    eng.alert("TRADE_OPPORTUNITY", None, script.title, account=acc.id, body=script.render_text(),
              rule=base)
