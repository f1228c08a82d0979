"""Capital-gains tax on the ledger's realized results: the one computation behind the fork figure
and the replay's tax by year (tax_rules.md rules 7 and 8).

``tax_by_year`` nets a set of results per calendar year (Schedule D): the ST results and the LT
results separately, then a net loss on one side against a net gain on the other; a net loss left
over is deducted against other income up to ``deduction_limit`` (3,000; 1,500 married filing
separately) and the rest carries to the next year keeping its character. A year's tax is
``st_rate`` × taxable ST + ``lt_rate`` × taxable LT, never negative. The deduction is recorded
(``YearTax.deduction``) but does not lower the capital-gains tax: it offsets *other* income, which
the ledger does not know, so its worth depends on a marginal rate the ledger has no figure for.
It does shrink the carryforward, as the carryover worksheet of Schedule D does (example E).

``fork_gain`` is rule 7: the account's results since its last fork (a ``ForkCursor`` the account
keeps), each with its own character, run through the same ``tax_by_year`` on their own. Results
before the cursor were taxed and moved at that fork: they never shelter nor inflate this one. A
slice that spans years nets each year and carries its own losses forward; a loss year in it
deducts up to 3,000 as the return would, so that much less loss shelters the slice's later gains.

How the withholdings relate to the yearly tax. Both are ``tax_by_year`` over sets of results: the
replay's tax by year over all results of every account (one taxpayer, as the ledger's wash-sale
window assumes), a fork's withholding over its own slice (one account, from its previous fork to
this one); the slices are disjoint. The sum of the withholdings equals the sum of the yearly tax
exactly when every result lies in some fork's slice and no loss is netted: each year's ST and LT
nets are gains in every slice, so netting them together moves nothing across slices. Otherwise
they differ, and not always the same way:
- results never forked (COM-ACC does not fork; an account's results since its last fork) are in
  the yearly tax only: the withholdings are lower;
- a loss in one slice (another account's, or another fork's) offsets a gain of another slice in
  the yearly tax but not in the withholdings, and each slice takes its own 3,000 deduction where
  the taxpayer takes one a year: the withholdings are higher;
- a slice nets an LT loss against its ST gain (ST rate saved) where the union nets it against an
  LT gain first (LT rate saved): the withholdings are lower.
The withholding is an estimate set aside at the fork, never revised; the tax by year is the
liability of the results as they stand.

``gains_basis: realized_and_unrealized`` adds the change, since the last fork, of the account's
unrealized gain at the caller's marks, as a short-term item of the fork's year: a position still
open was never held long enough to be known as long-term, and its gain is not taxed until it is
realized, so the ST rate is the cautious figure. The cursor keeps the unrealized gain it counted,
so a gain forked while unrealized is not counted again when it is realized.

A wash sale can change a result after a fork (a replacement bought within 30 days disallows a
loss the fork already netted). The cursor keeps the disallowed amounts of the results it closed,
and the next fork counts what was disallowed since as a gain of the result's year and character.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, Protocol, TypeAlias

from alluse.engine.ledger import ZERO, Character, Key, Ledger, money

GainsBasis: TypeAlias = Literal["realized", "realized_and_unrealized"]
DEDUCTION_LIMIT = Decimal("3000.00")  # a year's net capital loss against other income (Pub 550)


class TaxItem(Protocol):
    """What the netting reads of a result: ``Realized`` records, and the cursor's adjustments."""

    @property
    def date(self) -> date: ...
    @property
    def character(self) -> Character: ...
    @property
    def amount(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class _Item:
    date: date
    character: Character
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TaxRates:
    """Short- and long-term rates as fractions (0.37 = 37 %)."""

    short_term: Decimal
    long_term: Decimal

    def __post_init__(self) -> None:
        for name, rate in (("short-term", self.short_term), ("long-term", self.long_term)):
            if not 0 <= rate <= 1:
                raise ValueError(f"a {name} tax rate is a fraction between 0 and 1, got {rate}")

    @classmethod
    def of(cls, short_term: Decimal | float, long_term: Decimal | float) -> TaxRates:
        """From the policy's floats through their shortest repr (0.37 → Decimal("0.37"))."""
        def dec(rate: Decimal | float) -> Decimal:
            return rate if isinstance(rate, Decimal) else Decimal(repr(rate))
        return cls(dec(short_term), dec(long_term))


@dataclass(frozen=True, slots=True)
class YearTax:
    """One year of the netting. Losses carried are positive amounts.

    ``st``/``lt``: the year's own net results; ``taxable_st``/``taxable_lt``: what is taxed after
    the carryforward in and the offset between the sides; ``deduction``: net loss deducted against
    other income (not in ``tax``); ``carry_st``/``carry_lt``: loss carried to the next year."""

    year: int
    st: Decimal
    lt: Decimal
    carried_in_st: Decimal
    carried_in_lt: Decimal
    taxable_st: Decimal
    taxable_lt: Decimal
    deduction: Decimal
    carry_st: Decimal
    carry_lt: Decimal
    tax: Decimal


def tax_by_year(records: Iterable[TaxItem], st_rate: Decimal | float, lt_rate: Decimal | float, *,
                deduction_limit: Decimal = DEDUCTION_LIMIT) -> dict[int, YearTax]:
    """Tax per year of ``records`` (rule 8), every year from the first result's to the last's:
    a year with no result still deducts from, and carries, the loss carried into it."""
    rates = TaxRates.of(st_rate, lt_rate)
    nets: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for r in records:
        nets[r.date.year][r.character == "LT"] += r.amount
    out: dict[int, YearTax] = {}
    carry_st = carry_lt = ZERO
    for year in range(min(nets, default=0), max(nets, default=-1) + 1):
        own_st, own_lt = nets[year]
        st, lt = own_st - carry_st, own_lt - carry_lt
        if st < 0 < lt or lt < 0 < st:  # the loss side offsets the gain side; the rest keeps its side
            combined = st + lt
            st, lt = (ZERO, combined) if (combined >= 0) == (lt > 0) else (combined, ZERO)
        loss_st, loss_lt = max(-st, ZERO), max(-lt, ZERO)
        deduction = min(deduction_limit, loss_st + loss_lt)
        from_st = min(loss_st, deduction)  # the deduction uses the ST loss first (Schedule D)
        tax = money(rates.short_term * max(st, ZERO) + rates.long_term * max(lt, ZERO))
        out[year] = YearTax(year, own_st, own_lt, carry_st, carry_lt, max(st, ZERO), max(lt, ZERO),
                            deduction, loss_st - from_st, loss_lt - (deduction - from_st), tax)
        carry_st, carry_lt = out[year].carry_st, out[year].carry_lt
    return out


@dataclass(frozen=True, slots=True)
class ForkCursor:
    """Where an account's last fork left its results: ``index`` into ``Ledger.realized()`` (the
    results from there on are the next fork's), the disallowed amounts of the account's earlier
    results per (year, character) at that fork, and the unrealized gain that fork counted."""

    index: int = 0
    disallowed: tuple[tuple[int, Character, Decimal], ...] = ()
    unrealized: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class ForkGain:
    """Rule 7's figure. ``realized``: results since the cursor (with late wash-sale changes to
    earlier ones); ``unrealized``: the change of the unrealized gain since the cursor (0 when the
    basis is ``realized``); ``st``/``lt``: the net of each character (unrealized in ``st``);
    ``tax``: the sum of ``years``' tax; ``cursor``: the account's cursor if it forks now."""

    realized: Decimal
    unrealized: Decimal
    st: Decimal
    lt: Decimal
    tax: Decimal
    post_tax: Decimal
    years: dict[int, YearTax]
    cursor: ForkCursor

    @property
    def gain(self) -> Decimal:
        return self.realized + self.unrealized


def unrealized_gain(ledger: Ledger, account: str, marks: Mapping[Key, Decimal | float]) -> Decimal:
    """The account's open lots at ``marks`` less what the ledger holds them at: stock and bought
    options their basis, written options the deferred premium (they are worth −mark)."""
    value = ledger.equity(account, marks) - ledger.cash(account)
    book = sum((lot.basis if lot.quantity > 0 else -lot.basis for lot in ledger.lots(account)), ZERO)
    return value - book


def fork_gain(ledger: Ledger, account: str, since: ForkCursor, rates: TaxRates,
              basis: GainsBasis = "realized", *, marks: Mapping[Key, Decimal | float] | None = None,
              as_of: date | None = None) -> ForkGain:
    """The post-tax gain of ``account`` since ``since`` (rule 7), taxed by ``tax_by_year`` over
    those results alone. ``realized_and_unrealized`` needs ``marks`` for every open position and
    ``as_of``, the date whose year the unrealized change is taxed in."""
    records = ledger.realized()
    items: list[TaxItem] = []
    earlier: dict[tuple[int, Character], Decimal] = defaultdict(lambda: ZERO)
    disallowed: dict[tuple[int, Character], Decimal] = defaultdict(lambda: ZERO)
    for i, r in enumerate(records):  # one pass: the fork check runs every hour for every account
        if r.account != account:
            continue
        if r.disallowed:
            disallowed[(r.date.year, r.character)] += r.disallowed
            if i < since.index:
                earlier[(r.date.year, r.character)] += r.disallowed
        if i >= since.index:
            items.append(r)
    for year, character, at_fork in since.disallowed:
        earlier[(year, character)] -= at_fork
    items += [_Item(date(year, 12, 31), ch, amount)  # disallowed by a wash sale after the fork
              for (year, ch), amount in sorted(earlier.items()) if amount]
    realized = sum((i.amount for i in items), ZERO)
    unrealized = marked = ZERO
    if basis == "realized_and_unrealized":
        if marks is None or as_of is None:
            raise ValueError("gains_basis realized_and_unrealized needs marks and an as-of date")
        marked = unrealized_gain(ledger, account, marks)
        unrealized = marked - since.unrealized
        items.append(_Item(as_of, "ST", unrealized))
    years = tax_by_year(items, rates.short_term, rates.long_term)
    tax = sum((y.tax for y in years.values()), ZERO)
    st = sum((i.amount for i in items if i.character == "ST"), ZERO)
    cursor = ForkCursor(len(records), tuple((y, c, a) for (y, c), a in sorted(disallowed.items())),
                        marked)
    return ForkGain(realized, unrealized, st, realized + unrealized - st, tax,
                    realized + unrealized - tax, years, cursor)


__all__ = ["DEDUCTION_LIMIT", "ForkCursor", "ForkGain", "GainsBasis", "TaxItem", "TaxRates",
           "YearTax", "fork_gain", "tax_by_year", "unrealized_gain"]

