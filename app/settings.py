"""Settings from the environment (prefix ALLUSE_) and command-line flags; never from policies.

Secrets (IB account, SMTP password) come from the environment only and are never written to the
store or the logs. Live trading needs ALLUSE_LIVE_TRADING=true *and* the --live flag *and* a live
account id (`trading_mode`).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from alluse.engine.errors import AlluseError


class SettingsError(AlluseError):
    """An ALLUSE_* environment variable holds a value its setting cannot take."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALLUSE_", extra="ignore")

    db_url: str = Field(default="sqlite:///alluse.db", description="SQLAlchemy URL of the store")
    policies: str | None = Field(default=None, description="Policy directory (default: the bundled set)")
    report_dir: str = Field(default="reports", description="Where replay reports are written")
    live_trading: bool = Field(default=False, description="Allow live orders (also needs --live)")
    ib_host: str = Field(default="127.0.0.1", description="IB Gateway/TWS host")
    ib_port: int = Field(default=4002, description="IB Gateway/TWS API port (4002: the paper gateway)")
    ib_client_id: int = Field(default=17, description="API client id (every node of a cluster uses the same)")
    ib_account: str | None = Field(default=None, description="IB account id (DU…: paper); required for live")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    alert_email_to: str | None = None


def load_settings() -> Settings:
    """The settings from the environment; SettingsError names each bad variable (never a secret's value)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "ALLUSE_" + "_".join(str(part) for part in error["loc"]).upper()
            shown = "" if "password" in name.lower() else f"={error['input']!r}"
            problems.append(f"{name}{shown}: {error['msg']}")
        raise SettingsError("; ".join(problems)) from None


class Mode(StrEnum):
    """How a node trades: dry-run places and cancels nothing; paper is the default."""

    DRY_RUN = "dry-run"
    PAPER = "paper"
    LIVE = "live"


PAPER_ACCOUNT_PREFIX = "DU"  # IB's paper-trading account ids


def trading_mode(flag_live: bool, settings: Settings, *, dry_run: bool = False) -> Mode:
    """The mode a node may run in, or SettingsError with a one-line reason.

    Dry run wins over everything (it never trades). Otherwise paper, unless ``--live`` is given:
    live needs ALLUSE_LIVE_TRADING=true and a live account id in ALLUSE_IB_ACCOUNT. A paper id
    (DU…) is refused in live mode, and a live id in paper mode.
    """
    if dry_run:
        return Mode.DRY_RUN
    account = settings.ib_account
    if flag_live:
        if not settings.live_trading:
            raise SettingsError("live trading refused: --live also needs ALLUSE_LIVE_TRADING=true")
        if not account:
            raise SettingsError("live trading refused: set ALLUSE_IB_ACCOUNT to the live account id")
        if account.startswith(PAPER_ACCOUNT_PREFIX):
            raise SettingsError(f"live trading refused: ALLUSE_IB_ACCOUNT={_masked(account)} is a paper "
                                f"account ({PAPER_ACCOUNT_PREFIX}…)")
        return Mode.LIVE
    if account and not account.startswith(PAPER_ACCOUNT_PREFIX):
        raise SettingsError(f"paper trading refused: ALLUSE_IB_ACCOUNT={_masked(account)} is a live "
                            f"account (live needs --live and ALLUSE_LIVE_TRADING=true)")
    return Mode.PAPER


def _masked(account: str) -> str:
    """An account id fit for a message: its kind and its last digits, never the whole id."""
    return account[:2] + "…" + account[-2:] if len(account) > 4 else "…"
