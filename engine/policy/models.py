"""pydantic models, one per policy file. Frozen, ``extra="forbid"`` at every depth.

Structure and types are checked here; cross-references between files (account types,
strategies, alert types, schedule jobs, expression names) are checked by `crossref`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from alluse.engine.policy.common import (
    HHMM,
    AccountType,
    AlertRef,
    AlertTypeName,
    Expr,
    Identifier,
    Model,
    Percent,
    Priority,
    Right,
    ScriptTemplate,
    Template,
    Ticker,
    Weekday,
)

# --------------------------------------------------------------------------- protocols.yaml


class StepDown(Model):
    mode: Literal["never", "hysteresis"] = Field(
        "hysteresis", description="never: a level only rises until the position closes; "
                                  "hysteresis: step down one level once the move falls "
                                  "below the level's threshold minus hysteresis_atr")
    hysteresis_atr: float = Field(0.5, ge=0, le=5)


class ProtocolLevel(Model):
    level: int = Field(ge=0, le=9)
    name: Identifier
    description: str = ""
    min_atr_multiple: float = Field(ge=0, le=50, description="Adverse move ≥ this × ATR")
    monitor_every_minutes: int = Field(ge=1, le=1440)
    new_risk: Literal["allowed", "reduced", "blocked"] = "allowed"
    size_factor: float = Field(1.0, ge=0, le=1, description="Size multiplier for new trades "
                                                             "in the account when reduced")
    alert: AlertRef | None = None
    automatic_action: bool = Field(False, description="Execute the script without approval "
                                                      "(still only when live trading is on)")
    script: ScriptTemplate | None = None
    covered_script: ScriptTemplate | None = Field(
        None, description="For a covered call (a call written against shares held): the wheel "
                          "position is watched on the stock's fall, and this script (none: hold, "
                          "the alert only) acts on stock and call together")


class ProtocolsPolicy(Model):
    """Protocol levels in units of the ATR of daily bars (its period: data.yaml
    ``indicators.atr_period``, the one ATR of strikes, levels and risk limits)."""

    version: Literal[1]
    step_down: StepDown
    levels: list[ProtocolLevel] = Field(min_length=2, max_length=10)


# --------------------------------------------------------------------------- accounts.yaml


class Capital(Model):
    default: float = Field(gt=0)
    minimum: float = Field(gt=0)
    maximum: float = Field(gt=0)


class AccountTypeSpec(Model):
    description: str = ""
    strategy: Identifier = Field(description="File name (without .yaml) under strategies/")
    forks: bool
    withdrawals: bool = True


class ForkRule(Model):
    account_type: AccountType
    threshold_post_tax_gain: float = Field(gt=0, description="Post-tax gain over the account's "
                                                             "initial capital that triggers a fork")
    split: dict[AccountType, Percent] = Field(min_length=1, description="The excess goes to a new "
                                                                        "forked unit split so")
    parent_resets_to: Literal["initial_capital"] = "initial_capital"


class MergeRule(Model):
    unit_total_threshold: float = Field(gt=0, description="A forked unit whose total equity "
                                                          "reaches this merges")
    into_account_type: AccountType = Field(description="The parent unit's account that "
                                                       "receives the merged equity")


class TaxPolicy(Model):
    short_term_rate: float = Field(ge=0, le=1)
    long_term_rate: float = Field(ge=0, le=1)
    gains_basis: Literal["realized", "realized_and_unrealized"] = "realized"
    withhold_at_fork: bool = Field(True, description="Set aside the tax on the gain when forking")


class Reinvestment(Model):
    account_type: AccountType
    cadence: Literal["weekly", "quarterly", "never"]
    reinvest_pct: Percent = 100


class AccountsPolicy(Model):
    version: Literal[1]
    capital: Capital
    split: dict[AccountType, Percent] = Field(min_length=1)
    account_types: dict[AccountType, AccountTypeSpec] = Field(min_length=1)
    fork: list[ForkRule] = []
    merge: MergeRule
    tax: TaxPolicy
    reinvestment: list[Reinvestment] = []


# --------------------------------------------------------------------------- alerts.yaml


class AlertTypeSpec(Model):
    description: str = ""
    default_priority: Priority
    throttle_per_hour: int = Field(ge=0, le=10000, description="Deliveries per type per "
                                                               "window; the rest are suppressed "
                                                               "and counted")


class Channel(Model):
    enabled: bool
    min_priority: Priority


class Delivery(Model):
    throttle_window_minutes: int = Field(60, ge=1, le=1440)
    critical_bypasses_throttle: bool = True
    outside_market_hours_min_priority: Priority = "HIGH"


class AlertsPolicy(Model):
    version: Literal[1]
    types: dict[AlertTypeName, AlertTypeSpec] = Field(min_length=1)
    channels: dict[Literal["email", "dashboard"], Channel]
    delivery: Delivery


# --------------------------------------------------------------------------- risk.yaml


class Limit(Model):
    max_pct_of_account: Percent
    measure: Literal["atr_risk", "collateral", "premium"]
    atr_multiple: float = Field(1.0, gt=0, le=10)


class Collateral(Model):
    cash_secured: bool = True
    max_pct_of_cash: Percent = 100


class CircuitBreakers(Model):
    consecutive_losses: int = Field(ge=1, le=100)
    daily_drawdown_pct: Percent
    max_simultaneous_breaches: int = Field(ge=1, le=100)
    breach_min_level: int = Field(1, ge=1, le=9)
    resume: Literal["next_trading_day", "next_week", "manual"] = "next_trading_day"


class RiskPolicy(Model):
    version: Literal[1]
    position_limit: Limit
    daily_limit: Limit
    collateral: Collateral
    blacklist: list[Ticker] = []
    circuit_breakers: CircuitBreakers


# --------------------------------------------------------------------------- data.yaml


class PremiumTracker(Model):
    tickers: list[Ticker] = Field(min_length=1)
    every_minutes: int = Field(30, ge=1, le=390)
    curves_dte: list[int] = Field(min_length=1)


class OptionChains(Model):
    symbols: list[Ticker] = Field(min_length=1)
    max_days: int = Field(30, ge=0, le=400)
    strikes_around_atm: int = Field(6, ge=1, le=50)
    collect_at: list[Literal["open", "close"]] = Field(min_length=1)


class Macd(Model):
    fast: int = Field(12, ge=1, le=100)
    slow: int = Field(26, ge=2, le=200)
    signal: int = Field(9, ge=1, le=100)


class Indicators(Model):
    atr_period: int = Field(14, ge=2, le=100, description="Wilder ATR period of daily bars: the "
                            "one ATR of strike offsets, protocol levels and risk limits")
    rsi_period: int = Field(14, ge=2, le=100)
    macd: Macd
    realized_vol_days: int = Field(20, ge=5, le=252)
    mean_days: int = Field(20, ge=2, le=252, description="Trailing mean of daily closes (the "
                                                          "week predictions' trend and VIX term)")
    compute_at: list[Literal["pre_market", "after_collection"]] = Field(min_length=1)


class Quality(Model):
    on_bad_rows: Literal["refuse", "repair"] = "repair"


class CorporateActions(Model):
    # the simulated broker assigns an in-the-money covered call at the close before an ex-date
    # when the dividend exceeds the call's time value (what a rational holder of the call does)
    early_assignment_before_dividend: bool = True


class DataPolicy(Model):
    version: Literal[1]
    watchlist: list[Ticker] = Field(min_length=1)
    mag6: list[Ticker] = Field(min_length=1)
    premium_tracker: PremiumTracker
    option_chains: OptionChains
    indicators: Indicators
    quality: Quality
    corporate_actions: CorporateActions = CorporateActions()


# --------------------------------------------------------------------------- schedule.yaml

JobHandler = Literal[
    "entry_scan", "protocol_check", "premium_sample", "fork_check", "daily_collection",
    "option_chain_snapshot", "indicators_refresh", "weekly_cycle", "quarterly_cycle",
    "week_prediction",
]


class Job(Model):
    description: str = ""
    cron: str = Field(min_length=9, max_length=100, description="5-field cron, America/New_York")
    handler: JobHandler
    misfire_grace_seconds: int = Field(300, ge=1, le=86400)
    enabled: bool = True


class SchedulePolicy(Model):
    version: Literal[1]
    timezone: Literal["America/New_York"]
    jobs: dict[Identifier, Job] = Field(min_length=1)


# --------------------------------------------------------------------------- week_types.yaml


WeekTypeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9-]{0,15}$")]


class WeekMode(Model):
    label: str
    description: str = ""
    when: Expr


class WeekType(Model):
    family: Literal["put", "call"]
    label: str
    when: Expr


class PredictionRule(Model):
    mode: Identifier = Field(description="The week mode (a key of modes) this rule predicts")
    description: str = ""
    when: Expr


class ExpectedTypes(Model):
    put: WeekTypeCode | None = Field(None, description="Week type a put ending in such a week "
                                                       "is expected to have")
    call: WeekTypeCode | None = Field(None, description="Week type a call ending in such a "
                                                        "week is expected to have")


class Predictions(Model):
    vix_symbol: Ticker | None = Field("VIX", description="The symbol whose daily bars give vix "
                                                         "and vix_term_pct (none: not read)")
    rules: dict[Identifier, PredictionRule] = Field(min_length=1, description="First match "
                                                    "wins; none matching: no prediction")
    expected_types: dict[Identifier, ExpectedTypes] = Field(
        {}, description="Per predicted mode, the week type expected of a position ending that "
                        "week (the predicted side of the week-type comparison)")


class LearningSpec(Model):
    rolling_weeks: int = Field(13, ge=1, le=520, description="Window of the rolling hit rates")
    keep_weeks: int = Field(520, ge=1, le=5200, description="Weeks of predicted/actual records "
                            "kept in the engine state (cumulative counts are kept forever)")


class WeekTypesPolicy(Model):
    version: Literal[1]
    modes: dict[Identifier, WeekMode] = Field(min_length=1, description="First match wins")
    types: dict[WeekTypeCode, WeekType] = Field(min_length=1)
    predictions: Predictions | None = None
    learning: LearningSpec = LearningSpec.model_validate({})


# --------------------------------------------------------------------------- strategies/*.yaml


class EntryWindow(Model):
    start: HHMM
    end: HHMM


class Entry(Model):
    job: Identifier = Field(description="Schedule job whose clock event runs the entry scan")
    days: list[Weekday] = Field(min_length=1)
    window: EntryWindow
    on_market_closed: Literal["skip", "next_trading_day"] = "skip"
    on_early_close: Literal["trade", "skip"] = "trade"


class Dte(Model):
    """Days to expiry in calendar days (Thursday → next Friday is 8)."""

    min: int = Field(ge=0, le=365)
    max: int = Field(ge=0, le=365)
    prefer: Literal["nearest", "farthest"] = Field(
        "nearest", description="Which quoted expiry inside the band the entry takes")


class StrikeSelection(Model):
    method: Literal["atr_offset", "delta_band", "atm"]
    atr_multiple: float = Field(0.5, ge=0, le=10, description="atr_offset: strike = price − "
                                                              "k×ATR, rounded down to a listed strike")
    delta_min: float = Field(0.20, gt=0, lt=1, description="delta_band: |delta| lower bound")
    delta_max: float = Field(0.25, gt=0, lt=1, description="delta_band: |delta| upper bound")


# The parameters each strike method reads: setting another is a lint error (it would do nothing).
STRIKE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "atm": (), "atr_offset": ("atr_multiple",), "delta_band": ("delta_min", "delta_max")}


class Premium(Model):
    min_pct: float = Field(ge=0, le=100, description="premium / strike × 100 must reach this; "
                                                     "also the floor of the account's weekly "
                                                     "return in the weekly cycle")
    target_weekly_pct: float = Field(ge=0, le=100)
    target_yearly_pct: float | None = Field(None, ge=0, le=1000, description="An account "
                                            "target per year: when set, the weekly cycle "
                                            "compares the account's return with it (compounded "
                                            "to a week) instead of target_weekly_pct")
    min_yearly_pct: float | None = Field(None, ge=0, le=1000, description="The floor that goes "
                                         "with target_yearly_pct")
    price: Literal["mid", "bid"] = "mid"


class EntryRule(Model):
    id: Identifier
    description: str = ""
    rights: list[Right] = Field(["P", "C"], min_length=1, description="Which entries the rule "
                                "applies to: P (cash-secured puts) and/or C (covered calls)")
    if_: Expr = Field(alias="if")
    on_fail: Literal["skip", "hitl_alert"] = "skip"
    alert: AlertRef | None = None
    message: Template | None = None


class CoveredCalls(Model):
    enabled: bool
    strike: StrikeSelection
    dte: Dte
    min_premium_pct: float = Field(0.0, ge=0, le=100, description="min_premium_pct seen by the "
                                                                  "rules for covered calls")
    min_strike_vs_basis: Literal["at_or_above_basis", "any"] = "at_or_above_basis"


class StrategyPolicy(Model):
    version: Literal[1]
    account_type: AccountType
    description: str = ""
    enabled: bool = True
    symbols: list[Ticker] = Field(min_length=1)
    right: Literal["P"] = Field("P", description="Entries sell cash-secured puts; calls come "
                                                 "from covered_calls after an assignment")
    entry: Entry
    dte: Dte
    strike: StrikeSelection
    premium: Premium
    max_open_per_symbol: int = Field(1, ge=1, le=100)
    rules: list[EntryRule] = Field(min_length=1)
    covered_calls: CoveredCalls | None = None
    script: ScriptTemplate  # last: `alluse policy fmt` writes keys in this order


# Keys that were removed, with where their meaning went: lint names the replacement instead of
# saying "unknown key". (file, path) → message.
REMOVED_KEYS: dict[tuple[str, tuple[str, ...]], str] = {
    ("protocols.yaml", ("atr",)): "'atr' was removed: the ATR period is data.yaml "
    "indicators.atr_period, the one ATR of strike offsets, protocol levels and risk limits; "
    "delete this key (and set indicators.atr_period there)",
}

POLICY_FILES: dict[str, type[Model]] = {
    "protocols.yaml": ProtocolsPolicy,
    "accounts.yaml": AccountsPolicy,
    "alerts.yaml": AlertsPolicy,
    "risk.yaml": RiskPolicy,
    "data.yaml": DataPolicy,
    "schedule.yaml": SchedulePolicy,
    "week_types.yaml": WeekTypesPolicy,
}
STRATEGY_DIR = "strategies"
