"""Settings: the IB connection variables and the switches between dry-run, paper and live."""

from __future__ import annotations

import pytest

from alluse.settings import Mode, Settings, SettingsError, load_settings, trading_mode


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_ib_settings_default_to_the_local_paper_gateway(monkeypatch):
    for name in ("ALLUSE_IB_HOST", "ALLUSE_IB_PORT", "ALLUSE_IB_ACCOUNT", "ALLUSE_LIVE_TRADING"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert ("127.0.0.1", 4002, None, False) == (s.ib_host, s.ib_port, s.ib_account, s.live_trading)


def test_ib_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALLUSE_IB_HOST", "10.0.0.5")
    monkeypatch.setenv("ALLUSE_IB_PORT", "4001")
    monkeypatch.setenv("ALLUSE_IB_CLIENT_ID", "3")
    monkeypatch.setenv("ALLUSE_IB_ACCOUNT", "U1234567")
    s = load_settings()
    assert ("10.0.0.5", 4001, 3, "U1234567") == (s.ib_host, s.ib_port, s.ib_client_id, s.ib_account)


def test_paper_is_the_default():
    assert Mode.PAPER is trading_mode(False, settings())
    assert Mode.PAPER is trading_mode(False, settings(ib_account="DU123456", live_trading=True))


def test_live_needs_the_flag_the_switch_and_a_live_account():
    assert Mode.LIVE is trading_mode(True, settings(live_trading=True, ib_account="U1234567"))


@pytest.mark.parametrize(("flag", "values", "message"), [
    (True, {"ib_account": "U1234567"}, "live trading refused: --live also needs ALLUSE_LIVE_TRADING=true"),
    (True, {"live_trading": True}, "live trading refused: set ALLUSE_IB_ACCOUNT to the live account id"),
    (True, {"live_trading": True, "ib_account": "DU123456"},
     "live trading refused: ALLUSE_IB_ACCOUNT=DU…56 is a paper account (DU…)"),
    (False, {"ib_account": "U1234567"},
     "paper trading refused: ALLUSE_IB_ACCOUNT=U1…67 is a live account (live needs --live and "
     "ALLUSE_LIVE_TRADING=true)"),
])
def test_refusals_are_one_clear_line(flag, values, message):
    with pytest.raises(SettingsError) as caught:
        trading_mode(flag, settings(**values))
    assert message == str(caught.value)


def test_dry_run_wins_over_every_other_switch():
    assert Mode.DRY_RUN is trading_mode(True, settings(ib_account="U1234567"), dry_run=True)
