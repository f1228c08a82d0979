"""Alert priorities, throttling per type per window, and the delivery-hours floor.

Throttled alerts are not dropped: they are returned with ``suppressed=True`` and counted, so the
store and the reports show them. CRITICAL may bypass the throttle (policy), still counted. The
throttle is engine state (it survives a snapshot and a policy reload); the policy is an argument.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from alluse.engine.decisions import Alert
from alluse.engine.policy import names as N
from alluse.engine.policy.common import PRIORITY_RANK
from alluse.engine.policy.models import AlertsPolicy

# Alert types the engine raises by itself (policy files name the others): alerts.yaml must declare
# them (lint), each with its priority and throttle; one list, in engine/policy/names.py.
ENGINE_ALERT_TYPES = tuple(sorted(N.ENGINE_ALERT_TYPES))


@dataclass(slots=True)
class AlertThrottle:
    sent: dict[str, deque[dt.datetime]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def admit(self, policy: AlertsPolicy, ts: dt.datetime, alert_type: str, priority: str,
              title: str, *, account: str = "", body: str = "", rule: str = "",
              market_open: bool = True) -> Alert:
        spec = policy.types[alert_type]
        window = dt.timedelta(minutes=policy.delivery.throttle_window_minutes)
        sent = self.sent.setdefault(alert_type, deque())
        while sent and ts - sent[0] >= window:
            sent.popleft()
        self.counts[alert_type] = self.counts.get(alert_type, 0) + 1
        bypass = priority == "CRITICAL" and policy.delivery.critical_bypasses_throttle
        suppressed = len(sent) >= spec.throttle_per_hour and not bypass
        if suppressed:
            self.suppressed[alert_type] = self.suppressed.get(alert_type, 0) + 1
        else:
            sent.append(ts)
        floor = PRIORITY_RANK[policy.delivery.outside_market_hours_min_priority]
        held = not market_open and PRIORITY_RANK[priority] < floor
        return Alert(alert_type, priority, title, account=account, body=body,
                     suppressed=suppressed, held=held, rule=rule)
