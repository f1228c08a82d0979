"""Settings from the environment (prefix ALLUSE_) and command-line flags; never from policies.

Secrets (IB account, SMTP password) come from the environment only and are never written to the
store or the logs. Live trading needs ALLUSE_LIVE_TRADING=true *and* the --live flag.
"""

from __future__ import annotations

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
    operator: str | None = Field(default=None, description="Who `alluse act` records as deciding "
                                                           "(default: the OS user)")
    ib_host: str = "127.0.0.1"
    ib_port: int = 4002  # IB Gateway paper port
    ib_client_id: int = 17
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
