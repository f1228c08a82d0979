"""Job handlers: a registry keyed by the ``handler`` value of schedule.yaml.

Each handler declares the data it needs before it runs (``needs``): the driver asks the engine
for those requests (`Engine.data_needs`) and fulfils them through the `MarketData` port, so the
driver never knows which job wants an option chain.

| needs | what the driver brings before the job runs |
|---|---|
| ``option_chains`` | quotes of the chains the strategies entering on this job will scan |
| ``position_quotes`` | quotes of every open option position (marks for equity) |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alluse.engine import cycles, entry, feedback, forking, monitoring, risk
from alluse.engine.context import Ctx


@dataclass(frozen=True, slots=True)
class JobHandler:
    run: Callable[[Ctx, str], None] | None  # None: collected by the node's adapters, the
    needs: tuple[str, ...]                   # engine has nothing to decide
    description: str


def _protocol_check(ctx: Ctx, job: str) -> None:
    for symbol in sorted(ctx.bands):
        st = ctx.state.market.get(symbol)
        if st is not None and st.price is not None:
            monitoring.check_symbol(ctx, symbol, put_price=st.price, call_price=st.price,
                                    source="protocol check")
    risk.resume_accounts(ctx)
    risk.daily_drawdown(ctx)


def _weekly_cycle(ctx: Ctx, job: str) -> None:
    cycles.weekly_cycle(ctx)
    cycles.reinvest(ctx, "weekly")


HANDLERS: dict[str, JobHandler] = {
    "entry_scan": JobHandler(entry.entry_scan, ("option_chains",),
                             "the strategies' entry scan (strategies/*.yaml entry.job)"),
    "protocol_check": JobHandler(_protocol_check, (),
                                 "protocol levels at the latest prices; breaker resumes and the "
                                 "daily-drawdown breaker"),
    "fork_check": JobHandler(lambda ctx, job: forking.fork_and_merge(ctx), ("position_quotes",),
                             "forks and merges"),
    "daily_collection": JobHandler(lambda ctx, job: forking.fork_and_merge(ctx),
                                   ("position_quotes",), "end of day: forks and merges on marks"),
    "weekly_cycle": JobHandler(_weekly_cycle, (),
                               "week mode and week type classification; weekly reinvestment"),
    "week_prediction": JobHandler(lambda ctx, job: feedback.week_prediction(ctx), (),
                                  "week mode predictions per symbol and account, before the open"),
    "quarterly_cycle": JobHandler(lambda ctx, job: cycles.quarterly_cycle(ctx), (),
                                  "quarterly reinvestment"),
    "premium_sample": JobHandler(None, (), "premium tracker sample (node collector)"),
    "option_chain_snapshot": JobHandler(None, (), "Mag-6 chains (node collector)"),
    "indicators_refresh": JobHandler(None, (), "indicators (node collector)"),
}
