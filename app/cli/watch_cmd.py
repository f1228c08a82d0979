"""`alluse policy watch [DIR]`: hot-reload a policy directory in the foreground, one line per attempt.

What a running node does with its policies, shown to the operator while editing: every save is
validated as a whole set; a valid set becomes active, an invalid one is rejected with every
problem and the last good set stays active. Ctrl-C ends it (exit 0).
"""

from __future__ import annotations

import json
import signal
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from alluse.cli.policy_cmd import DirArg, policy_app
from alluse.engine.errors import PolicyIssue

if TYPE_CHECKING:  # the store is imported when the command runs, not at CLI start
    from alluse.adapters.policy_store import ReloadAttempt


class WatchFormat(StrEnum):
    text = "text"
    json = "json"


def _shown(issue: PolicyIssue, base: Path) -> str:
    if issue.code == "missing-dir" or Path(issue.file).is_absolute():
        return issue.file
    return str(base / issue.file)


def render_attempt(attempt: ReloadAttempt, fmt: str, base: Path) -> str:
    """One attempt as one JSON line, or as a readable line (plus one indented line per problem)."""
    if fmt == "json":
        errors = [{**i.as_dict(), "file": _shown(i, base)} for i in attempt.errors]
        return json.dumps({"status": attempt.status, "hash": attempt.hash, "errors": errors,
                           "at": attempt.at.isoformat()}, ensure_ascii=False)
    at = attempt.at.isoformat(timespec="seconds")
    active = attempt.hash[:12] if attempt.hash else "none"
    if attempt.status == "accepted":
        return f"{at} accepted: policy {active} is active ({len(attempt.files)} files)"
    n = len(attempt.errors)
    head = (f"{at} rejected: {n} problem{'s' if n != 1 else ''}; "
            + (f"policy {active} stays active" if attempt.hash else "no policy is active"))
    lines = [head]
    for issue in attempt.errors:
        lines.append("  " + PolicyIssue(_shown(issue, base), issue.line, issue.col, issue.message,
                                        issue.policy, issue.rule).format())
    return "\n".join(lines)


@policy_app.command("watch")
def watch(
    directory: DirArg = None,
    fmt: Annotated[WatchFormat, typer.Option("--format", help="text or json")] = WatchFormat.text,
) -> None:
    """Watch a policy directory: print the initial load and every reload attempt. Ctrl-C exits."""
    from alluse.adapters.policy_store import PolicyStore
    from alluse.cli.policy_dir import policy_dir

    base = policy_dir(directory)
    store = PolicyStore(base)
    print_lock = threading.Lock()

    def show(attempt: ReloadAttempt) -> None:
        if attempt.status == "unchanged":  # a touch or an identical re-save: nothing to report
            return
        with print_lock:
            typer.echo(render_attempt(attempt, fmt.value, base))

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)  # a service stop ends it like Ctrl-C
    try:
        show(store.reload())  # a failed initial load is reported and the watch goes on
        store.subscribe(show)
        store.start()
        done = threading.Event()
        while not done.wait(0.5):  # a timed wait keeps Ctrl-C responsive in the main thread
            pass
    except KeyboardInterrupt:
        pass
    finally:
        store.stop()
        signal.signal(signal.SIGTERM, previous)
