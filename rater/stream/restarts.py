"""When `rater run` restarts its session after a lost dependency, and when it gives up.

Two limits, because two different things go wrong:

- an outage: no session has made one good turn of the loop for `dependency_retry_s`
  (Kafka or Redis down for good, a wrong address): waiting longer helps nobody, so the
  process exits 3 and the orchestrator (or a person) takes over;
- a restart loop: sessions open, turn and fail again and again (a broker that flaps, a
  partition fought over). Restarts are counted in a sliding window of
  `restart_window_s`, not over the process's life: a process that lost Kafka once a day
  for a month is healthy, one that restarted `restart_limit` times in ten minutes is not.

The pause before a restart doubles with each failure since the last good turn (0.2 s up
to 30 s), so a long outage is retried gently and a one-off blip costs 0.2 s.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from rater.errors import Unavailable

FIRST_PAUSE_S = 0.2
MAX_PAUSE_S = 30.0


class Restarts:
    """The restart policy of one `rater run` process (see the module docstring)."""

    def __init__(
        self,
        outage_s: float,
        window_s: float,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outage_s = outage_s
        self.window_s = window_s
        self.limit = limit
        self.clock = clock
        self.times: deque[float] = deque()  # restarts within the window, oldest first
        self.failing_since: float | None = None  # no good turn since then
        self.failures = 0  # restarts since the last good turn

    def in_window(self) -> int:
        """Restarts counted now (those older than the window are forgotten)."""
        now = self.clock()
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()
        return len(self.times)

    def failed(self, error: BaseException, turned: bool) -> float:
        """Count a restart after `error`; `turned`: the failed session made a good turn
        of the loop (the outage, if any, began after it). Returns the pause before the
        next session, or raises `Unavailable` when the process should give up."""
        now = self.clock()
        if turned or self.failing_since is None:
            self.failing_since, self.failures = now, 0
        self.failures += 1
        self.times.append(now)
        down = now - self.failing_since
        if down > self.outage_s:
            raise Unavailable(
                f"gave up after {self.failures} attempts over {down:.0f} s "
                f"(dependency_retry_s {self.outage_s:g}): {error}"
            ) from error
        n = self.in_window()
        if n > self.limit:
            raise Unavailable(
                f"gave up after {n} session restarts in {self.window_s:g} s "
                f"(restart_limit {self.limit}, restart_window_s {self.window_s:g}): {error}"
            ) from error
        return min(MAX_PAUSE_S, FIRST_PAUSE_S * 2.0 ** (self.failures - 1))
