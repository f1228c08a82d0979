"""Protocol monitoring: underlying prices against each short option's ATR levels.

A level change fires the protocol machine, records the rule and values, alerts at the level's
priority and renders the level's action script. With daily bars the position is checked at the
bar's adverse extreme, and the script's reference price is where the new level was crossed: the
level's boundary, or the open when the bar gapped past it.
"""

from __future__ import annotations

from alluse.engine.context import Ctx, Values
from alluse.engine.events import Bar
from alluse.engine.protocol import ShortOption, SymbolBand, target_level
from alluse.engine.risk import breach_breaker


def add_short(ctx: Ctx, pos: ShortOption, level: str = "L0") -> None:
    pos.model.key = pos.key
    ctx.machines.protocol.add(pos.model, level)
    pos.bounds(ctx.thresholds, ctx.hysteresis)
    ctx.state.shorts[pos.position_key] = pos
    band = ctx.bands.setdefault(pos.symbol, SymbolBand())
    band.positions.append(pos)
    band.refresh()


def drop_short(ctx: Ctx, pos: ShortOption) -> None:
    ctx.machines.protocol.remove(pos.model)
    del ctx.state.shorts[pos.position_key]
    band = ctx.bands[pos.symbol]
    band.positions.remove(pos)
    band.refresh()


def check_symbol(ctx: Ctx, symbol: str, *, put_price: float, call_price: float, source: str,
                 bar: Bar | None = None) -> None:
    band = ctx.bands.get(symbol)
    if band is None:
        return
    changed = False
    for pos in list(band.positions):
        price = put_price if pos.falls_hurt else call_price
        if pos.lo < price < pos.hi:
            continue
        changed |= _relevel(ctx, pos, price, source, bar)
    if changed:
        band.refresh()
        breach_breaker(ctx)


def _crossing(ctx: Ctx, pos: ShortOption, level: int, price: float, bar: Bar | None) -> float:
    """Where the underlying reached ``level``: the boundary, or the open of a bar that gapped."""
    if bar is None:
        return price
    sign = -1.0 if pos.falls_hurt else 1.0
    boundary = pos.entry_price + sign * ctx.thresholds[level] * pos.atr
    gapped = bar.open <= boundary if pos.falls_hurt else bar.open >= boundary
    return bar.open if gapped else boundary


def _relevel(ctx: Ctx, pos: ShortOption, price: float, source: str, bar: Bar | None) -> bool:
    mult = pos.adverse_multiple(price)
    old = pos.level
    new = target_level(mult, old, ctx.thresholds, ctx.hysteresis)
    if new == old:
        pos.bounds(ctx.thresholds, ctx.hysteresis)
        return False
    values: Values = (
        ("price", round(price, 4)), ("entry_price", round(pos.entry_price, 4)),
        ("atr", round(pos.atr, 4)), ("atr_multiple", round(mult, 4)),
        ("threshold", ctx.thresholds[max(new, old) if new > old else old]),
    )
    rule = f"protocols#levels/{new}" if new > old else "protocols#step_down"
    ctx.machines.protocol.fire(pos.model, f"to_L{new}", rule, values)
    pos.max_level = max(pos.max_level, new)
    pos.bounds(ctx.thresholds, ctx.hysteresis)
    lv = ctx.ps.protocols.levels[new]
    direction = "against" if mult >= 0 else "in favour of"
    if new > old:
        ctx.fire(rule, f"{pos.symbol} {pos.strike:g}{pos.right} ({pos.account}): {source} "
                 f"{price:.2f} is {abs(mult):.2f}×ATR {direction} the position from entry "
                 f"{pos.entry_price:.2f} (ATR {pos.atr:.2f}) ≥ L{new} threshold "
                 f"{lv.min_atr_multiple:g}", "", values)
        _level_actions(ctx, pos, _crossing(ctx, pos, new, price, bar), mult, old, new, rule,
                       values)
    else:
        ctx.fire(rule, f"{pos.symbol} {pos.strike:g}{pos.right} ({pos.account}): move back to "
                 f"{mult:.2f}×ATR < L{old} threshold {ctx.thresholds[old]:g} − hysteresis "
                 f"{ctx.hysteresis:g}: step down to L{new}", "", values)
    return True


def _level_actions(ctx: Ctx, pos: ShortOption, price: float, mult: float, old: int, new: int,
                   rule: str, values: Values) -> None:
    """A level rose: alert at the level's priority, the level's script, optional automation."""
    lv = ctx.ps.protocols.levels[new]
    title = (f"{pos.symbol} {pos.strike:g}{pos.right} ({pos.account}) L{old} "
             f"{ctx.ps.protocols.levels[old].name} → L{new} {lv.name}: {mult:.2f}×ATR adverse")
    if lv.alert is not None:
        ctx.alert(lv.alert.type, lv.alert.priority, title, account=pos.account,
                  body=f"Underlying {price:.2f}, entry {pos.entry_price:.2f}, ATR {pos.atr:.2f}.",
                  rule=rule)
    template, where = (lv.covered_script, "covered_script") if pos.covered else (lv.script, "script")
    if template is None:  # a covered wheel position without a script: hold, the alert says why
        return
    q = ctx.state.market[pos.symbol].quotes.get((pos.expiry, pos.strike, pos.right))
    intrinsic = max(pos.strike - price, 0.0) if pos.right == "P" else max(price - pos.strike, 0.0)
    bid, ask = (q.bid, q.ask) if q is not None else (intrinsic, intrinsic)
    names = {"symbol": pos.symbol, "account": pos.account, "right": pos.right,
             "strike": pos.strike, "expiry": pos.expiry.isoformat(), "quantity": pos.quantity,
             "price": price, "entry_price": pos.entry_price, "atr": pos.atr,
             "atr_multiple": mult, "level": new, "previous_level": old, "bid": bid, "ask": ask,
             "premium": pos.premium, "covered": pos.covered}
    idx = next(i for i, lvl in enumerate(ctx.ps.protocols.levels) if lvl.level == new)
    approval = "automatic" if lv.automatic_action else None
    script = ctx.render("protocols.yaml", ("levels", idx, where), template, names,
                        account=pos.account, rule=rule, trigger_values=values,
                        underlying_price=price, approval=approval)
    ctx.out.scripts.append(script)
