"""Corporate actions: a split adjusts everything priced in the old shares; a dividend pays holders.

A `Split` (N-for-1, from its ``ts`` on) goes through the whole state, as the OCC and a broker do:
the ledger's stock lots (shares × N, same total basis) and option lots (contracts × N, strike ÷ N),
the protocol monitor's short positions (contracts × N, strike, premium per share, entry price and
ATR ÷ N: a position's level is unchanged by the split itself), collateral reservations (re-keyed,
same amount), and the symbol's market state (indicators on the new basis via ``split_adjust``,
last price and week range ÷ N, quotes of the old strikes dropped).

A `Dividend` credits every account holding the stock before the ex-date's open with amount ×
shares (the ledger's `DividendIncome`, ordinary income apart from capital gains).
"""

from __future__ import annotations

from alluse.engine import monitoring
from alluse.engine.context import Ctx
from alluse.engine.events import Dividend, Split


def on_split(ctx: Ctx, ev: Split) -> None:
    st = ctx.state
    n = ev.ratio
    st.ledger.split(ev.symbol, n, ev.ts)
    moved = [p for p in st.shorts.values() if p.symbol == ev.symbol]
    for pos in moved:
        monitoring.drop_short(ctx, pos)
        level = pos.model.state
        old = f"{pos.quantity} × {pos.strike:g}{pos.right}"
        pos.split_adjust(n)
        monitoring.add_short(ctx, pos, level)
        ctx.fire("position.split", f"{pos.account} {ev.symbol} {pos.expiry}: {old} → "
                 f"{pos.quantity} × {pos.strike:g}{pos.right}; entry {pos.entry_price:.2f}, ATR "
                 f"{pos.atr:.2f}, level {level} kept")
    for key in [k for k in st.pending if k[1].symbol == ev.symbol]:
        st.pending[(key[0], key[1].split(n))] = st.pending.pop(key)
    sym = st.market.get(ev.symbol)
    if sym is not None:
        sym.atr.split_adjust(n)
        sym.rsi.split_adjust(n)
        sym.macd.split_adjust(n)
        sym.price = None if sym.price is None else sym.price / n
        sym.week_open = None if sym.week_open is None else sym.week_open / n
        sym.week_high /= n
        sym.week_low /= n
        sym.quotes.clear()
    ctx.fire("ledger.split", f"{ev.symbol} {n}-for-1 split: {len(moved)} short option "
             "position(s), stock lots and indicators adjusted", values=(("ratio", n),))


def on_dividend(ctx: Ctx, ev: Dividend) -> None:
    booked = ctx.state.ledger.dividend(ev.symbol, ev.amount, ev.ex_date, ev.ts)
    for d in booked:
        ctx.fire("ledger.dividend", f"{d.account}: {d.shares} {d.symbol} × {ev.amount:g} = "
                 f"{d.amount:,.2f} dividend (ex-date {ev.ex_date})",
                 values=(("shares", d.shares), ("amount", float(d.amount))))
    if not booked:
        ctx.miss("ledger.dividend", f"{ev.symbol} dividend {ev.amount:g} (ex-date "
                 f"{ev.ex_date}): no account holds the stock")
