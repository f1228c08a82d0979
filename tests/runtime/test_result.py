"""The replay's result on a real replay at 10M, where GEN-ACC-001 forks twice in six months:
time-weighted returns, positions and benchmarks against independent computations."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from alluse.adapters import marketdata
from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine import portfolio
from alluse.engine.calendar import NY
from alluse.engine.decisions import Decision
from alluse.engine.events import Event, JobDue
from alluse.runtime.replay import Replay, ReplayParams

START, END = dt.date(2021, 1, 4), dt.date(2021, 6, 30)
ACCOUNT = re.compile(r"([A-Z]{3}-ACC-\d{3})\b")


class FlowRecorder:
    """Its own observer: each transfer the ledger books, with the accounts' equity right after,
    and the not-fired traces of the entry scans by the account their explanation names."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.seen = 0
        self.flows: list[tuple[dt.date, str, Decimal, Decimal]] = []  # (day, account, flow, after)
        self.misses: Counter[tuple[str, str, str]] = Counter()  # (account, rule, step)

    def __call__(self, ev: Event, d: Decision) -> None:
        if isinstance(ev, JobDue) and ev.name == "entry_scan":
            for nf in d.not_fired:
                if (found := ACCOUNT.match(nf.explanation)) is not None:
                    self.misses[(found.group(1), nf.rule, nf.step)] += 1
        st = self.replay.engine.state
        transfers = st.ledger.transfers()
        net: dict[str, Decimal] = {}  # one event may move money several times (tax, children)
        for tr in transfers[self.seen:]:
            net[tr.source] = net.get(tr.source, Decimal(0)) - tr.amount
            net[tr.target] = net.get(tr.target, Decimal(0)) + tr.amount
        self.flows += [(ev.ts.astimezone(NY).date(), acc, flow, portfolio.equity(st, acc))
                       for acc, flow in net.items() if acc in st.tree.accounts]
        self.seen = len(transfers)


@pytest.fixture(scope="module")
def replayed() -> tuple[Replay, dict[str, Any], FlowRecorder]:
    replay = Replay(load_policy_dir(default_policy_dir()), ReplayParams(START, END, 10_000_000.0))
    recorder = FlowRecorder(replay)
    replay.driver.observers.append(recorder)
    return replay, replay.run(), recorder


def _unit_value_twr(replay: Replay, recorder: FlowRecorder, account: str) -> float:
    """TWR by unit accounting: units are bought or sold at each flow at the unit value just before
    it (equity after − flow); the return is the last unit value over the first."""
    initial = next(a.initial_capital for a in replay.engine.state.tree.accounts.values()
                   if a.id == account)
    units = float(initial)  # unit value 1.0 at the start
    for _day, acc, flow, after in recorder.flows:
        if acc == account:
            nav = float(after - flow) / units
            units += float(flow) / nav
    final = replay.tally.equity[account][-1] or 0.0
    return final / units - 1


def test_gen_acc_001_forks_in_the_window(replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """The fixture is what the test means: GEN-ACC-001 forks (money leaves it) at least twice."""
    _, result, _ = replayed
    assert 2 <= sum(f["parent"] == "GEN-ACC-001" for f in result["forks"])


def test_gen_acc_001_twr_equals_unit_value_accounting(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """twr_pct of GEN-ACC-001 equals an independent unit-value computation, and is not its
    return on initial capital (which counts the money forked away as a loss)."""
    replay, result, recorder = replayed
    acc = next(a for a in result["accounts"] if a["id"] == "GEN-ACC-001")
    expected = round(_unit_value_twr(replay, recorder, "GEN-ACC-001") * 100, 2)
    assert (expected, True) == (acc["twr_pct"], abs(acc["twr_pct"] - acc["return_pct"]) > 1)


def test_every_account_twr_equals_unit_value_accounting(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """The same independent check for every account, forked children included (funded by a flow)."""
    replay, result, recorder = replayed
    got = {a["id"]: a["twr_pct"] for a in result["accounts"]}
    roots = {a["id"] for a in result["accounts"] if a["parent"] is None}

    def child_twr(account: str) -> float:
        # a child starts with nothing: its first flow is its funding, bought at unit value 1
        units, first = 0.0, True
        for _day, acc, flow, after in recorder.flows:
            if acc == account:
                nav = 1.0 if first else float(after - flow) / units
                units += float(flow) / nav
                first = False
        return (replay.tally.equity[account][-1] or 0.0) / units - 1

    expected = {a: round((_unit_value_twr(replay, recorder, a) if a in roots else child_twr(a)) * 100, 2)
                for a in got}
    assert expected == got


def test_money_moved_by_a_fork_does_not_move_the_index(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """On each fork day GEN-ACC-001's equity falls by the money moved, its index by far less."""
    _, result, _ = replayed
    dates = result["twr"]["dates"]
    index = result["twr"]["series"]["GEN-ACC-001"]
    equity = result["equity"]["series"]["GEN-ACC-001"]
    for fork in (f for f in result["forks"] if f["parent"] == "GEN-ACC-001"):
        i = dates.index(fork["date"])
        moved = float(Decimal(fork["amount"]) + Decimal(fork["tax_withheld"]))
        equity_change = (equity[i] - equity[i - 1]) / equity[i - 1]
        index_change = index[i] / index[i - 1] - 1
        assert (True, True) == (equity_change < -moved / equity[i - 1] / 2,
                                abs(index_change) < moved / equity[i - 1] / 2), fork["date"]


def test_max_drawdown_is_measured_on_the_index(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """max_drawdown_pct is the largest fall of the published index from its running peak (from 1.0)."""
    _, result, _ = replayed
    for a in result["accounts"]:
        values = [v for v in result["twr"]["series"][a["id"]] if v is not None]
        peak, worst = 1.0, 0.0
        for v in values:
            peak = max(peak, v)
            worst = max(worst, 1 - v / peak)
        assert (a["id"], round(worst * 100, 2) if values else None) == (a["id"], a["max_drawdown_pct"])


def test_positions_pnl_and_open_marks_add_up_to_the_total_pnl(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """Closed positions' P&L + open positions' cash and marks = the ledger's realised + unrealised
    P&L, to the dollar: the positions neither lose nor double count a fill or an assignment."""
    replay, result, _ = replayed
    st = replay.engine.state
    book = replay.tally.positions
    total = sum(p.pnl for p in book.closed)
    for (_acc, key), pos in book.open.items():
        if isinstance(key, str):
            mark = (st.market[key].price or 0.0) * pos.quantity
        else:
            mark = portfolio.contract_mark(st, key.symbol, key.expiry, key.strike, key.right,
                                           key.strike) * 100 * pos.quantity
        total += pos.pnl + mark
    commissions_in_pnl = round(total, 0)
    assert round(float(result["total_pnl"]), 0) == commissions_in_pnl


def test_trades_and_win_rate_come_from_the_positions(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """Per account: trades = positions opened, win rate = closed with P&L > 0 over closed; the
    top-level trades are their sum, and fills are more (a position may take several fills)."""
    replay, result, _ = replayed
    book = replay.tally.positions
    for a in result["accounts"]:
        closed = [p for p in book.closed if p.account == a["id"]]
        wins = sum(p.pnl > 0 for p in closed)
        assert (book.opened.get(a["id"], 0), len(closed),
                round(wins / len(closed), 4) if closed else None) == (
            a["trades"], a["closed_positions"], a["win_rate"])
    assert (sum(a["trades"] for a in result["accounts"]), True) == (
        result["trades"], result["fills"] >= result["trades"] > 0)


def test_benchmarks_equal_buy_and_hold_on_the_adjusted_bars(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """SPY: last close / first open − 1; Mag-6: the mean of the six such ratios − 1; both over the
    replay's sessions, from the bundled split- and dividend-adjusted daily bars."""
    replay, result, _ = replayed
    first, last = result["twr"]["dates"][0], result["twr"]["dates"][-1]

    def ratio(symbol: str) -> float:
        bars = {b.date.isoformat(): b for b in marketdata.load_daily(symbol, start=START, end=END)}
        return bars[last].close / bars[first].open

    mag6 = replay.ps.data.mag6
    expected = {"SPY": round((ratio("SPY") - 1) * 100, 2),
                "MAG6": round((sum(ratio(s) for s in mag6) / len(mag6) - 1) * 100, 2)}
    assert expected == {k: b["return_pct"] for k, b in result["benchmarks"].items()}


def test_entry_checks_that_did_not_pass_are_counted_per_account_and_rule(
        replayed: tuple[Replay, dict[str, Any], FlowRecorder]) -> None:
    """entry_not_fired holds, per account, the entry scans' not-fired traces by rule id and step
    (most frequent first), with the last explanation; the test counts them with its own observer."""
    _, result, recorder = replayed
    got = Counter({(acc, m["rule"], m["step"]): m["count"]
                   for acc, misses in result["entry_not_fired"].items() for m in misses})
    ordered = all([m["count"] for m in ms] == sorted((m["count"] for m in ms), reverse=True)
                  for ms in result["entry_not_fired"].values())
    said = all(m["last"].startswith(acc) for acc, ms in result["entry_not_fired"].items() for m in ms)
    assert (recorder.misses, True, True) == (got, ordered, said)
