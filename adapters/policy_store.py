"""A hot-reloading holder of the active policy set: watches the policy directory, swaps atomically.

The store reads and validates the WHOLE directory on every change and swaps the active set only
when all of it is valid; otherwise the last good set stays active and the attempt records why
(a running node keeps trading on a known policy and alerts). Every attempt, accepted or not, goes
to the subscribers.

Why the directory and not the files: editors save by writing a temp file and renaming it over the
original, and a watch on the file itself stops after the first such save. Why content hashes:
polling watchers can miss rapid same-size saves, and a touch or an identical re-save changes
nothing, so every attempt starts from the bytes on disk; a periodic re-check (``recheck_ms``)
catches anything the watcher missed, including a directory that was deleted and re-created (the
OS watch does not follow it) or a symlink swapped to a new release.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

from alluse.adapters.policy_files import read_policy_files
from alluse.engine.errors import PolicyError, PolicyIssue, PolicyLoadError
from alluse.engine.policy import PolicySet, load_policy_set

log = logging.getLogger(__name__)

Status = Literal["accepted", "rejected", "unchanged"]
Clock = Callable[[], datetime]
Subscriber = Callable[["ReloadAttempt"], None]

# watchfiles groups changes until none arrives for `step` ms (or `debounce` ms have passed).
# step=20 puts a save on the active set in ~30-40 ms; debounce=400 still groups a checkout or a
# script writing several files, which all land within a few ms of each other.
DEFAULT_STEP_MS = 20
DEFAULT_DEBOUNCE_MS = 400
DEFAULT_RECHECK_MS = 300  # a quiet re-check reads ~10 small files: well under 1 ms


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReloadAttempt:
    """One attempt to (re)load the policy directory.

    ``hash`` is the ACTIVE policy hash after the attempt (the new one when accepted, the previous
    good one otherwise, None while no set was ever valid); ``content_hash`` identifies the bytes
    that were read (None when the directory could not be read).
    """

    at: datetime
    status: Status
    hash: str | None
    errors: tuple[PolicyIssue, ...] = ()
    content_hash: str | None = None
    files: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "status": self.status,
            "hash": self.hash,
            "errors": [issue.as_dict() for issue in self.errors],
        }


def internal_error(exc: BaseException) -> PolicyLoadError:
    """An unexpected error while loading, as a rejection that says what happened (one line)."""
    text = " ".join(str(exc).split())[:200]
    return PolicyLoadError([PolicyIssue(".", 1, 1, f"internal error while loading the policy "
                                        f"set: {type(exc).__name__}: {text}", code="internal")])


def content_hash(files: Mapping[str, bytes]) -> str:
    """Hash of a directory's policy files: names and bytes, independent of read order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


class PolicyStore:
    """The active `PolicySet` of one policy directory, reloaded when the directory changes.

    ``reload()`` is synchronous (tests, CLI); ``start()``/``stop()`` run the watcher thread, and
    ``with PolicyStore(d) as store:`` loads once and watches until the block ends.
    """

    def __init__(self, directory: Path, *, clock: Clock = _utc_now,
                 debounce_ms: int = DEFAULT_DEBOUNCE_MS, step_ms: int = DEFAULT_STEP_MS,
                 recheck_ms: int = DEFAULT_RECHECK_MS, force_polling: bool | None = None) -> None:
        self.directory = Path(directory)
        self._clock = clock
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._recheck_ms = recheck_ms
        self._force_polling = force_polling
        self._lock = threading.Lock()  # one reload at a time (watcher thread vs reload() callers)
        self._active: PolicySet | None = None
        self._last_attempt: ReloadAttempt | None = None
        self._last_error: PolicyLoadError | None = None
        self._last_success_at: datetime | None = None
        self._examined: str | None = None  # content hash of the last bytes validated
        self._subscribers: list[Subscriber] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()  # set as the watcher thread starts its OS watch

    # ------------------------------------------------------------------ state

    @property
    def active(self) -> PolicySet:
        """The last valid set; raises `PolicyError` while no set has ever been valid."""
        active = self._active
        if active is None:
            why = f": {self._last_error}" if self._last_error is not None else ""
            raise PolicyError(f"no valid policy set loaded from {self.directory}{why}")
        return active

    @property
    def active_hash(self) -> str | None:
        active = self._active
        return active.hash if active is not None else None

    @property
    def last_attempt(self) -> ReloadAttempt | None:
        return self._last_attempt

    @property
    def last_error(self) -> PolicyLoadError | None:
        """Why the latest change was rejected; None once a later change is accepted."""
        return self._last_error

    @property
    def last_success_at(self) -> datetime | None:
        return self._last_success_at

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(attempt)`` after every attempt; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    # ------------------------------------------------------------------ loading

    def reload(self) -> ReloadAttempt:
        """Read and validate the whole directory now; swap only if all of it is valid.

        Never raises: whatever goes wrong inside is a rejected attempt that says what happened.
        """
        with self._lock:
            try:
                attempt = self._attempt()
            except Exception as exc:
                log.exception("policy reload of %s failed", self.directory)
                self._examined = None  # try the same bytes again next time
                attempt = self._reject(self._clock(), internal_error(exc), None, ())
            self._last_attempt = attempt
        self._notify(attempt)
        return attempt

    def _notify(self, attempt: ReloadAttempt) -> None:
        for callback in list(self._subscribers):
            try:
                callback(attempt)
            except Exception:  # a broken subscriber must not stop the watcher or the others
                log.exception("policy store subscriber %r failed", callback)

    def _attempt(self) -> ReloadAttempt:
        now = self._clock()
        digest, files, error = _snapshot(self.directory)
        names = tuple(sorted(files or ()))
        if digest == self._examined:
            return ReloadAttempt(now, "unchanged", self.active_hash,
                                 tuple(self._last_error.issues) if self._last_error else (),
                                 digest, names)
        self._examined = digest
        if files is None:
            assert error is not None
            return self._reject(now, error, digest, names)
        try:
            policy = load_policy_set(files)
        except PolicyLoadError as exc:
            return self._reject(now, exc, digest, names)
        except Exception as exc:  # a loader bug: rejected like a bad edit, never a dead watcher
            log.exception("loading the policy set of %s failed", self.directory)
            return self._reject(now, internal_error(exc), digest, names)
        self._active = policy  # one reference assignment: readers see the old or the new set
        self._last_error = None
        self._last_success_at = now
        return ReloadAttempt(now, "accepted", policy.hash, (), digest, names)

    def _reject(self, now: datetime, exc: PolicyLoadError, digest: str | None,
                names: tuple[str, ...]) -> ReloadAttempt:
        self._last_error = exc
        return ReloadAttempt(now, "rejected", self.active_hash, tuple(exc.issues), digest, names)

    # ------------------------------------------------------------------ watching

    def start(self) -> None:
        """Watch the directory in a daemon thread until `stop()`; returns once the watch is set."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="policy-store-watch", daemon=True)
        self._thread.start()
        # The OS watch must exist before the caller's next save, or that save would be missed
        # until the periodic re-check.
        self._ready.wait(timeout=5)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        """The watcher thread: it never dies of an error; each one is a rejected attempt."""
        while not self._stop.is_set():
            try:
                self._watch()
                return
            except Exception as exc:
                log.exception("policy watch on %s failed", self.directory)
                self._ready.set()
                attempt = self._reject(self._clock(), internal_error(exc), None, ())
                self._last_attempt = attempt
                self._notify(attempt)
                if self._stop.wait(max(self._step_ms, 20) * 5 / 1000):
                    return

    def _watch(self) -> None:
        import watchfiles  # only the watcher needs it; lint and reload() do not

        while not self._stop.is_set():
            if not self.directory.is_dir():
                self._ready.set()
                # An OS watch cannot outlive its directory: poll until the directory is back.
                if self._stop.wait(max(self._step_ms, 20) * 5 / 1000):
                    return
                if self.directory.is_dir():
                    self.reload()
                continue
            changes = watchfiles.watch(
                self.directory, stop_event=self._stop, debounce=self._debounce_ms,
                step=self._step_ms, rust_timeout=self._recheck_ms, yield_on_timeout=True,
                force_polling=self._force_polling, raise_interrupt=False,
                watch_filter=_policy_change)
            self._ready.set()
            try:
                for batch in changes:
                    # An empty batch is a quiet timeout: re-check the bytes, in case the
                    # watcher missed a save (polling) or the directory was swapped under it.
                    if batch or _snapshot(self.directory)[0] != self._examined:
                        self.reload()
                    if not self.directory.is_dir():
                        break  # deleted: the rejection is recorded; wait for it to come back
            except OSError as exc:  # deleted between the check and the watch, or refused
                log.warning("policy watch on %s failed: %s", self.directory, exc)
                self.reload()
                if self._stop.wait(max(self._step_ms, 20) * 5 / 1000):
                    return
            finally:
                changes.close()

    @property
    def watching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> PolicyStore:
        self.reload()
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _policy_change(_change: object, path: str) -> bool:
    """Only policy files and directories matter: editor swap/backup files are not policies."""
    name = Path(path).name
    if name.startswith(".") or name.endswith("~"):
        return False
    return name.endswith((".yaml", ".yml")) or "." not in name


def _snapshot(directory: Path) -> tuple[str, dict[str, bytes] | None, PolicyLoadError | None]:
    """The directory's content hash and files, or (hash of the failure, None, the error).

    Hashing a read failure too means the same failure seen twice is "unchanged", not news.
    """
    try:
        files = read_policy_files(directory)
    except PolicyLoadError as exc:
        text = "\n".join(issue.format() for issue in exc.issues)
        return "unreadable:" + hashlib.sha256(text.encode()).hexdigest(), None, exc
    return content_hash(files), files, None
