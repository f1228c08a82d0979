"""Forks and merges of accounts (accounts.yaml).

An account whose post-tax realized gain since its last fork reaches its threshold forks: the tax
is withheld, the rest of the gain leaves in cash to a new unit split by the policy, and the
parent's gain counts from zero again. A forked unit whose total equity reaches the merge
threshold merges into its parent unit's account once it is flat.
"""

from __future__ import annotations

from decimal import Decimal

from alluse.engine import portfolio
from alluse.engine.accounts import AccountInfo, split_amounts
from alluse.engine.context import Ctx, Values
from alluse.engine.events import OptionContract
from alluse.engine.ledger import Key
from alluse.engine.risk import rebase_day_start
from alluse.engine.state import TAX_ACCOUNT
from alluse.engine.tax import ForkGain, TaxRates, fork_gain


def fork_tax(ctx: Ctx, acc: AccountInfo) -> ForkGain:
    """The account's post-tax gain since its last fork (accounts.yaml tax; `engine.tax`)."""
    pol = ctx.ps.accounts.tax
    rates = TaxRates.of(pol.short_term_rate, pol.long_term_rate)
    ledger = ctx.state.ledger
    if pol.gains_basis == "realized":
        return fork_gain(ledger, acc.id, acc.tax_cursor, rates)
    return fork_gain(ledger, acc.id, acc.tax_cursor, rates, pol.gains_basis,
                     marks=_marks(ctx, acc.id), as_of=ctx.today)


def _marks(ctx: Ctx, account: str) -> dict[Key, float | Decimal]:
    """The account's positions at the prices `portfolio.equity` uses: stock at the last price
    (its basis when there is none yet), options at the quote's mid, else intrinsic value."""
    state = ctx.state
    marks: dict[Key, float | Decimal] = {}
    lots = state.ledger.lots(account)
    for lot in lots:
        if lot.expiry is None or lot.strike is None or lot.right is None:
            st = state.market.get(lot.symbol)
            price = st.price if st is not None else None
            same = [x for x in lots if x.symbol == lot.symbol and x.expiry is None]
            marks[lot.symbol] = price if price is not None else (
                sum((x.basis for x in same), Decimal(0)) / sum(x.quantity for x in same))
            continue
        marks[OptionContract(lot.symbol, lot.expiry, lot.strike, lot.right)] = \
            portfolio.contract_mark(state, lot.symbol, lot.expiry, lot.strike, lot.right,
                                    lot.strike)
    return marks


def fork_and_merge(ctx: Ctx) -> None:
    pol = ctx.ps.accounts
    rules = {r.account_type: r for r in pol.fork}
    for acc in sorted(list(ctx.state.tree.accounts.values()), key=lambda a: a.id):
        fr = rules.get(acc.type)
        # Forked-unit accounts grow toward a merge, not another fork (accounts.yaml).
        if fr is None or acc.state not in ("active", "fork_pending"):
            continue
        fg = fork_tax(ctx, acc)
        gain, post = fg.gain, fg.post_tax
        rule = f"accounts#fork/{acc.type}"
        values: Values = (
            ("realized_gain", float(fg.realized)), ("tax", float(fg.tax)),
            ("post_tax_gain", float(post)), ("threshold", fr.threshold_post_tax_gain))
        if post < Decimal(str(fr.threshold_post_tax_gain)):
            continue
        # The realized gain leaves in cash: the tax is withheld, the rest funds the new unit. It
        # waits (fork pending) while open positions tie up the cash it needs.
        free = portfolio.free_cash(ctx.state, acc.id, ctx.ts)
        if free < gain:
            if acc.state != "fork_pending":
                ctx.machines.account.fire(acc.model, "request_fork", rule, values)
                ctx.fire(rule, f"{acc.id}: post-tax gain {post:,.2f} ≥ "
                         f"{fr.threshold_post_tax_gain:,.0f}; fork pending until {gain:,.2f} of "
                         f"cash is free (free now {free:,.2f})", "", values)
            continue
        _fork(ctx, acc.id, fr.split, fg, rule, values)
    _merges(ctx)


def _fork(ctx: Ctx, acc_id: str, split: dict[str, float], fg: ForkGain, rule: str,
          values: Values) -> None:
    state, ts = ctx.state, ctx.ts
    acc = state.tree.accounts[acc_id]
    if acc.state == "active":
        ctx.machines.account.fire(acc.model, "request_fork", rule, values)
    withheld = fg.tax if ctx.ps.accounts.tax.withhold_at_fork else Decimal(0)
    moved = fg.gain - withheld
    if moved <= 0:
        return
    if withheld > 0:
        state.ledger.transfer(acc_id, TAX_ACCOUNT, withheld, ts)
        state.taxes_withheld += withheld
    unit = state.tree.new_unit()
    created = []
    parts = []
    for t, amount in split_amounts(moved, dict(split)).items():
        child = state.tree.add(t, unit, acc_id, amount, ts, True)
        child.model.state = "forked"
        ctx.machines.account.add(child.model, "forked")
        state.ledger.open_account(child.id, Decimal(0))
        state.ledger.transfer(acc_id, child.id, amount, ts)
        created.append(child.id)
        parts.append(f"{child.id} {amount:,.2f}")
    rebase_day_start(ctx, acc_id, fg.gain)
    acc.tax_cursor = fg.cursor
    ctx.machines.account.fire(acc.model, "complete_fork", rule, values)
    state.forks.append({"date": ctx.today.isoformat(), "parent": acc_id, "unit": unit,
                        "accounts": created, "amount": str(moved), "tax_withheld": str(withheld),
                        "realized_index": fg.cursor.index})
    ctx.fire(rule, f"{acc_id} forked {moved:,.2f} (post-tax, {withheld:,.2f} tax withheld) into "
             f"{' + '.join(parts)}; {acc_id}'s realized gain resets to 0 over its initial "
             f"{acc.initial_capital:,.2f}", "", values)
    ctx.alert("ACCOUNT_MANAGEMENT", None, f"Fork: {acc_id} → {', '.join(created)} "
              f"({moved:,.0f})", account=acc_id, rule=rule)


def _merges(ctx: Ctx) -> None:
    pol = ctx.ps.accounts.merge
    state = ctx.state
    units = sorted({a.unit for a in state.tree.accounts.values() if a.model.forked_unit})
    for unit in units:
        members = [a for a in state.tree.unit_members(unit) if a.state in ("forked", "merging")]
        if not members:
            continue
        total = sum((portfolio.equity(state, a.id) for a in members), Decimal(0))
        if total < Decimal(str(pol.unit_total_threshold)):
            continue
        parent = state.tree.accounts[members[0].parent or ""]
        target = next((a for a in state.tree.unit_members(parent.unit)
                       if a.type == pol.into_account_type), None)
        if target is None:
            continue
        rule = "accounts#merge"
        values: Values = (("unit_total", float(total)), ("threshold", pol.unit_total_threshold))
        for a in members:
            if a.state == "forked":
                ctx.machines.account.fire(a.model, "start_merge", rule, values)
        if any(portfolio.has_open_positions(state, a.id) for a in members):
            ctx.fire(rule, f"unit {unit} total {total:,.2f} ≥ {pol.unit_total_threshold:,.0f}: "
                     f"merging into {target.id} once flat", "", values)
            continue
        moved = Decimal(0)
        for a in members:
            amount = state.ledger.cash(a.id)
            if amount > 0:
                state.ledger.transfer(a.id, target.id, amount, ctx.ts)
                moved += amount
            ctx.machines.account.fire(a.model, "complete_merge", rule, values)
        rebase_day_start(ctx, target.id, -moved)
        state.merges.append({"date": ctx.today.isoformat(), "unit": unit,
                             "accounts": [a.id for a in members], "into": target.id,
                             "amount": str(moved)})
        ctx.fire(rule, f"unit {unit} ({', '.join(a.id for a in members)}) merged {moved:,.2f} "
                 f"into {target.id}", "", values)
        ctx.alert("ACCOUNT_MANAGEMENT", None, f"Merge: unit {unit} → {target.id} "
                  f"({moved:,.0f})", rule=rule)
