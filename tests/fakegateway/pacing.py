"""Counts client messages in every sliding 1-second window, as IB's 50 messages/s rule does."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class PacingMonitor:
    limit: int = 50
    window: float = 1.0
    peak: int = 0  # most messages seen in any window
    violations: list[float] = field(default_factory=list)  # when a message went over the limit
    _times: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> bool:
        """Count one message received at ``now`` (monotonic seconds); False when it breaks the rule."""
        times = self._times
        times.append(now)
        while now - times[0] >= self.window:
            times.popleft()
        self.peak = max(self.peak, len(times))
        if len(times) > self.limit:
            self.violations.append(now)
            return False
        return True

    def reset(self) -> None:
        self.peak = 0
        self.violations.clear()
        self._times.clear()
