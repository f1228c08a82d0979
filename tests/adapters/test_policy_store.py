"""PolicyStore: hot reload on real files in a temp directory, with the watcher thread running.

Waits poll until a condition holds (a few seconds at most); no fixed sleep asserts speed.
"""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir, read_policy_files
from alluse.adapters.policy_store import PolicyStore, ReloadAttempt
from alluse.engine.errors import PolicyError

TIMEOUT = 5.0


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)
    return target


@pytest.fixture
def store(policy_dir: Path):
    with PolicyStore(policy_dir) as running:
        yield running


def atomic_write(path: Path, text: str) -> None:
    """What editors do: write a temp file beside the target, then rename it over the target."""
    tmp = path.with_name(f".{path.name}.swp-{time.monotonic_ns()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def edit(path: Path, old: str, new: str) -> str:
    text = path.read_text("utf-8")
    assert 1 == text.count(old)
    return text.replace(old, new)


def expected_hash(directory: Path) -> str:
    return load_policy_dir(directory).hash


class Recorder:
    def __init__(self) -> None:
        self.attempts: list[ReloadAttempt] = []
        self.lock = threading.Lock()

    def __call__(self, attempt: ReloadAttempt) -> None:
        with self.lock:
            self.attempts.append(attempt)

    def statuses(self) -> list[str]:
        with self.lock:
            return [a.status for a in self.attempts]


def test_reload_accepts_the_default_set_and_records_the_attempt(policy_dir):
    """A synchronous reload validates the directory and makes it active."""
    when = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    store = PolicyStore(policy_dir, clock=lambda: when)
    attempt = store.reload()
    assert ("accepted", expected_hash(policy_dir), ()) == (attempt.status, attempt.hash,
                                                           attempt.errors)
    assert expected_hash(policy_dir) == store.active.hash == store.active_hash
    assert (attempt, when, None) == (store.last_attempt, store.last_success_at, store.last_error)


def test_reload_of_identical_bytes_is_unchanged(policy_dir):
    """Nothing new on disk: the attempt says unchanged and the active set is the same object."""
    store = PolicyStore(policy_dir)
    store.reload()
    active = store.active
    assert "unchanged" == store.reload().status
    assert active is store.active


def test_no_valid_set_yet_means_active_raises_with_the_reason(policy_dir):
    """An initial load that fails leaves nothing active and says why."""
    (policy_dir / "risk.yaml").unlink()
    store = PolicyStore(policy_dir)
    attempt = store.reload()
    assert ("rejected", None) == (attempt.status, attempt.hash)
    assert ["risk.yaml:1:1: policy risk: required policy file 'risk.yaml' is missing"] == [
        i.format() for i in attempt.errors]
    with pytest.raises(PolicyError, match=r"required policy file 'risk\.yaml' is missing"):
        _ = store.active


def test_atomic_rename_save_becomes_active(store, policy_dir):
    """An editor's save (temp file + rename) is picked up and swapped in."""
    before = store.active_hash
    path = policy_dir / "risk.yaml"
    atomic_write(path, edit(path, "consecutive_losses: 3", "consecutive_losses: 4"))
    assert wait_for(lambda: store.active_hash != before)
    assert 4 == store.active.risk.circuit_breakers.consecutive_losses
    assert expected_hash(policy_dir) == store.active_hash


def test_in_place_write_becomes_active(store, policy_dir):
    """A plain write into the existing file is picked up too."""
    path = policy_dir / "alerts.yaml"
    path.write_text(edit(path, "throttle_per_hour: 3", "throttle_per_hour: 7"), "utf-8")
    assert wait_for(lambda: store.active.alerts.types["SYSTEM_STATUS"].throttle_per_hour == 7)


def test_invalid_edit_is_rejected_then_the_fix_is_accepted(store, policy_dir):
    """A broken save keeps the last good set and records why; fixing it makes it active again."""
    good = store.active_hash
    path = policy_dir / "accounts.yaml"
    original = path.read_text("utf-8")
    atomic_write(path, original.replace("COM-ACC: 30\n", "COM-ACC: 20\n", 1))
    assert wait_for(lambda: store.last_error is not None)
    assert ("rejected", good) == (store.last_attempt.status, store.last_attempt.hash)
    assert ["the account split must sum to 100%, found 90%"] == [
        i.message for i in store.last_attempt.errors]
    assert good == store.active_hash
    atomic_write(path, original)
    assert wait_for(lambda: store.last_attempt.status == "accepted")
    assert (good, None) == (store.active_hash, store.last_error)


def test_deleted_file_is_rejected_and_the_previous_set_stays(store, policy_dir):
    """A required file removed: rejected, the previous hash stays active."""
    good = store.active_hash
    (policy_dir / "schedule.yaml").unlink()
    assert wait_for(lambda: store.last_error is not None)
    assert "rejected" == store.last_attempt.status
    assert ["missing-file"] == [i.code for i in store.last_attempt.errors]
    assert good == store.active_hash


def test_deleted_directory_is_rejected_and_watched_again_when_it_returns(store, policy_dir,
                                                                         tmp_path):
    """The whole directory removed: rejected, last good kept; restored, it is accepted again."""
    good = store.active_hash
    backup = tmp_path / "backup"
    shutil.copytree(policy_dir, backup)
    shutil.rmtree(policy_dir)
    assert wait_for(lambda: store.last_error is not None)
    assert ["missing-dir"] == [i.code for i in store.last_attempt.errors]
    assert good == store.active_hash
    shutil.copytree(backup, policy_dir)
    assert wait_for(lambda: store.last_attempt.status == "accepted")
    path = policy_dir / "risk.yaml"  # and later saves are still seen
    atomic_write(path, edit(path, "consecutive_losses: 3", "consecutive_losses: 5"))
    assert wait_for(lambda: store.active.risk.circuit_breakers.consecutive_losses == 5)


def test_rapid_edits_end_with_the_final_content_active(store, policy_dir):
    """Many saves in quick succession: whatever was saved last is what is active."""
    path = policy_dir / "risk.yaml"
    original = path.read_text("utf-8")
    for n in range(1, 21):
        atomic_write(path, original.replace("consecutive_losses: 3", f"consecutive_losses: {n}"))
    assert wait_for(lambda: store.active.risk.circuit_breakers.consecutive_losses == 20)
    assert expected_hash(policy_dir) == store.active_hash


def test_same_size_saves_in_a_row_are_all_seen(store, policy_dir):
    """Saves that keep the file size (3 → 4 → 5) are told apart by content, not size."""
    path = policy_dir / "risk.yaml"
    original = path.read_text("utf-8")
    for n in (4, 5, 6):
        path.write_text(original.replace("consecutive_losses: 3", f"consecutive_losses: {n}"),
                        "utf-8")
        assert wait_for(lambda n=n: store.active.risk.circuit_breakers.consecutive_losses == n)


def test_set_valid_only_once_both_files_are_saved(store, policy_dir):
    """Renaming an alert type needs alerts.yaml and protocols.yaml: the half-way set is refused."""
    recorder = Recorder()
    store.subscribe(recorder)
    good = store.active_hash
    alerts = policy_dir / "alerts.yaml"
    atomic_write(alerts, edit(alerts, "  PROTOCOL_BREACH:", "  POSITION_BREACH:"))
    assert wait_for(lambda: "rejected" in recorder.statuses())
    assert good == store.active_hash
    assert {"protocols.yaml"} == {i.file for i in store.last_attempt.errors}
    protocols = policy_dir / "protocols.yaml"
    atomic_write(protocols, protocols.read_text("utf-8").replace("PROTOCOL_BREACH",
                                                                 "POSITION_BREACH"))
    assert wait_for(lambda: "accepted" in recorder.statuses())
    assert "POSITION_BREACH" in store.active.alerts.types
    assert good != store.active_hash


def test_subscribers_get_every_attempt_and_can_unsubscribe(policy_dir):
    """Each attempt reaches each subscriber; a failing subscriber does not stop the others."""
    store = PolicyStore(policy_dir)
    seen = Recorder()

    def broken(_attempt: ReloadAttempt) -> None:
        raise RuntimeError("subscriber bug")

    store.subscribe(broken)
    unsubscribe = store.subscribe(seen)
    store.reload()
    (policy_dir / "data.yaml").write_text("version: 1\n", "utf-8")
    store.reload()
    store.reload()
    unsubscribe()
    store.reload()
    assert ["accepted", "rejected", "unchanged"] == seen.statuses()


def test_leaving_the_with_block_stops_the_watcher_thread(policy_dir):
    """The context manager loads, watches, and on exit ends its thread."""
    with PolicyStore(policy_dir) as store:
        assert (True, "accepted") == (store.watching, store.last_attempt.status)
    assert not store.watching
    assert not any(t.name == "policy-store-watch" and t.is_alive() for t in threading.enumerate())


def test_attempt_as_dict_has_status_hash_and_located_errors(policy_dir):
    """The attempt record serialises for the CLI and the node's log."""
    (policy_dir / "alerts.yaml").write_text("version: 1\nzzz: 1\n", "utf-8")
    attempt = PolicyStore(policy_dir, clock=lambda: datetime(2026, 1, 5, tzinfo=UTC)).reload()
    out = attempt.as_dict()
    assert ("rejected", None, "2026-01-05T00:00:00+00:00") == (out["status"], out["hash"],
                                                               out["at"])
    assert {"file", "line", "col", "message", "policy", "rule", "code", "severity"} == set(
        out["errors"][0])


def test_polling_mode_ends_with_the_last_same_size_save_active(policy_dir):
    """Polling can miss rapid same-size saves; the content re-check still lands on the last one."""
    with PolicyStore(policy_dir, force_polling=True, recheck_ms=200) as store:
        path = policy_dir / "risk.yaml"
        original = path.read_text("utf-8")
        for n in (4, 5, 6, 7, 8, 9):
            path.write_text(original.replace("consecutive_losses: 3", f"consecutive_losses: {n}"),
                            "utf-8")
        assert wait_for(lambda: store.active.risk.circuit_breakers.consecutive_losses == 9)


def test_a_merge_key_edit_is_rejected_with_its_position_and_the_watch_goes_on(store, policy_dir):
    """The edit that once killed the watcher thread (KeyError 'min'): rejected at its line, the
    watcher still runs, and the next good save is picked up."""
    recorder = Recorder()
    store.subscribe(recorder)
    path = policy_dir / "strategies" / "gen_acc.yaml"
    good = path.read_text("utf-8")
    atomic_write(path, edit(path, "dte: {min: 1, max: 8, prefer: farthest}",
                            "dte: {<<: {min: 1, max: 8}, prefer: farthest}"))
    assert wait_for(lambda: "rejected" in recorder.statuses())
    rejected = next(a for a in recorder.attempts if a.status == "rejected")
    line = 1 + next(i for i, x in enumerate(good.splitlines()) if "dte: {min: 1, max: 8" in x)
    assert [f"strategies/gen_acc.yaml:{line}:9: YAML merge keys ('<<') are not allowed: write the "
            "values out"] == [i.format() for i in rejected.errors]
    atomic_write(path, good.replace("min_pct: 1.5", "min_pct: 1.4"))
    assert wait_for(lambda: store.active.strategies["gen_acc"].premium.min_pct == 1.4)
    assert store.watching


def test_an_internal_loader_error_is_a_rejected_attempt_not_a_dead_watcher(store, policy_dir,
                                                                            monkeypatch):
    """Any exception inside a reload (here a loader bug, stood in by a function that raises) is
    reported as a rejected attempt naming it; the watcher keeps running and recovers."""
    from alluse.adapters import policy_store

    def broken(_files: object) -> None:
        raise KeyError("min")

    recorder = Recorder()
    store.subscribe(recorder)
    monkeypatch.setattr(policy_store, "load_policy_set", broken)
    path = policy_dir / "risk.yaml"
    atomic_write(path, edit(path, "consecutive_losses: 3", "consecutive_losses: 4"))
    assert wait_for(lambda: "rejected" in recorder.statuses())
    rejected = next(a for a in recorder.attempts if a.status == "rejected")
    assert [".:1:1: internal error while loading the policy set: KeyError: 'min'"] == [
        i.format() for i in rejected.errors]
    monkeypatch.undo()
    atomic_write(path, edit(path, "consecutive_losses: 4", "consecutive_losses: 5"))
    assert wait_for(lambda: store.active.risk.circuit_breakers.consecutive_losses == 5)
    assert store.watching
