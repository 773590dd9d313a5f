"""Heartbeat timers of one FIX session: when to send a Heartbeat, when to probe a silent peer with
a TestRequest and when to give up on it. Pure: the time is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# A peer is "silent" after its interval plus this share of it plus one second, for transit time.
_GRACE_SHARE = 0.2
_GRACE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Due:
    """What the timers ask for at one tick."""

    heartbeat: bool = False
    test_request_id: str = ""  # send a TestRequest with this TestReqID
    dead: bool = False  # the peer ignored our TestRequest for a whole interval


class Liveness:
    """Tracks traffic both ways against HeartBtInt (108)."""

    def __init__(self, interval_seconds: int, now: datetime) -> None:
        self.interval_seconds = interval_seconds
        self.last_sent_at = self.last_received_at = now
        self.test_request_id = ""
        self._test_request_at = now
        self._test_requests = 0

    def sent(self, now: datetime) -> None:
        self.last_sent_at = now

    def received(self, now: datetime) -> None:
        """Anything from the peer proves it alive and answers an outstanding TestRequest."""
        self.last_received_at = now
        self.test_request_id = ""

    def check(self, now: datetime) -> Due:
        interval = self.interval_seconds
        if self.test_request_id:
            if elapsed(self._test_request_at, now) >= interval:
                return Due(dead=True)
        elif elapsed(self.last_received_at, now) >= interval * (1 + _GRACE_SHARE) + _GRACE_SECONDS:
            self._test_requests += 1
            self.test_request_id = f"TEST{self._test_requests}"
            self._test_request_at = now
            return Due(test_request_id=self.test_request_id)  # it counts as our traffic too
        return Due(heartbeat=elapsed(self.last_sent_at, now) >= interval)


def elapsed(since: datetime, now: datetime) -> float:
    """Seconds from `since` to `now`; never negative, even if the wall clock stepped back."""
    return max((now - since).total_seconds(), 0.0)
