"""How fast to send requests: as fast as the API allows, and no faster.

A full scan reads every page, so against a rate-limited API the tap is only as fast
as the limit; bursting into it and then waiting out each 429 is much slower than
keeping to it. :class:`Pacer` spaces the requests of all workers:

* at ``max_requests_per_second`` when the user knows the limit;
* unpaced until the API first says "too many" (a 429, or a rate-limit header
  saying none are left); then it *learns* the rate: from the successes between
  two such signals (while it sends faster than the limit, the API lets through
  exactly its rate), keeping just under it, and probing upwards slowly while
  nothing more is refused. Until a second signal gives that measure it starts
  from the successes of the last second and grows quickly ("slow start").

A refusal that asks for a short wait (a ``Retry-After`` or reset of at most
:data:`PACED_WAIT_SECONDS`: the integer seconds of a per-second limit) is not
waited out by everyone: the pacer's new rate spaces the retries. A longer one (a
quota for a minute, an hour) pauses every request until it has passed. Pure
timing logic: the clock and the sleep are injected, so its tests need no waiting.
"""

from __future__ import annotations

import collections
import threading
import time
import typing as t

from tap_reviewrover.waits import PACED_WAIT_SECONDS

#: The slowest the pacer ever goes, in requests a second.
MIN_RATE = 0.2
#: Share of the measured rate kept to after a refusal.
BACK_OFF = 0.9
#: Successes between two refusals that make a measure of the rate.
MIN_SUCCESSES_TO_MEASURE = 5
#: Share of the refused rate kept to when there were too few to measure.
BACK_OFF_UNMEASURED = 0.5
#: Growth of the rate every :data:`GROWTH_STEP_SECONDS` before it is known.
SLOW_START_GROWTH = 2.0
#: Growth of the rate a second once the rate is known (probing for more).
PROBE_GROWTH_PER_SECOND = 0.05
GROWTH_STEP_SECONDS = 0.1
#: Refusals this close together, or :data:`REQUESTS_IN_AN_EVENT` requests apart
#: at the rate of the moment if that is longer, are one event: the later ones
#: were on their way already.
SAME_EVENT_SECONDS = 0.1
REQUESTS_IN_AN_EVENT = 2
#: The longest a waiting worker sleeps before it looks at the rate again.
MAX_SLEEP_SECONDS = 0.05
#: The window, in seconds, over which the first rate is taken.
FIRST_WINDOW_SECONDS = 1.0


class Pacer:
    """Spaces the requests of every worker of a sync (see the module doc).

    Attributes:
        rate: Requests a second now; None while unpaced.
        refusals: Refusals seen (429s, or headers saying none are left).
    """

    def __init__(
        self,
        *,
        max_rate: float | None = None,
        clock: t.Callable[[], float] | None = None,
        sleep: t.Callable[[float], None] | None = None,
    ) -> None:
        """Start unpaced, or at ``max_rate``.

        Args:
            max_rate: A rate never to exceed (``max_requests_per_second``).
            clock: Monotonic seconds (:func:`time.monotonic` by default).
            sleep: Waits that many seconds (:func:`time.sleep` by default).
        """
        self.rate: float | None = max_rate
        self.refusals = 0
        self._max_rate = max_rate
        self._clock = clock or _now
        self._sleep = sleep or _sleep
        self._lock = threading.Lock()
        self._last_start = float("-inf")
        self._not_before = 0.0
        self._learning = False
        self._rate_known = False
        self._last_growth = 0.0
        self._last_refusal: float | None = None
        self._successes_since_refusal = 0
        self._recent_successes: collections.deque[float] = collections.deque()

    def wait_turn(self, cancelled: threading.Event | None = None) -> None:
        """Wait until this worker may send its next request, and take that slot.

        A slot is taken only when it is due, at the rate of that moment: a rate
        that grows while workers wait shortens their wait.

        Args:
            cancelled: Set when nobody waits for the request any more: the wait
                ends early, without a slot (the caller checks it).
        """
        while cancelled is None or not cancelled.is_set():
            with self._lock:
                now = self._clock()
                self._grow(now)
                start = self._not_before
                if self.rate is not None:
                    start = max(start, self._last_start + 1.0 / self.rate)
                if start <= now:
                    self._last_start = now
                    return
            self._sleep(min(start - now, MAX_SLEEP_SECONDS))

    def succeeded(self) -> None:
        """A request got its answer (not a refusal)."""
        with self._lock:
            now = self._clock()
            self._successes_since_refusal += 1
            self._recent_successes.append(now)
            while self._recent_successes[0] < now - FIRST_WINDOW_SECONDS:
                self._recent_successes.popleft()

    def refused(self, wait: float | None) -> bool:
        """A request was refused (429): learn from it, unless the wait is long.

        Args:
            wait: The ``Retry-After`` it came with, in seconds, if any.

        Returns:
            True when the pacer spaces the retry itself (no wait is needed
            beyond :meth:`wait_turn`); False when ``wait`` must be waited out
            (the retry loop does, and every other request with it).
        """
        with self._lock:
            self.refusals += 1
            if wait is not None and wait > PACED_WAIT_SECONDS:
                return False
            self._learn(self._clock())
            return True

    def none_left(self, wait: float) -> None:
        """An answer's rate-limit headers say no request is left for a moment.

        Learns from it as from a refusal, before one comes.

        Args:
            wait: Seconds until requests are allowed again (at most
                :data:`PACED_WAIT_SECONDS`: longer waits are :meth:`hold_until`).
        """
        del wait
        with self._lock:
            self._learn(self._clock())

    def hold_until(self, wait: float) -> None:
        """Hold every request for ``wait`` seconds (a quota for a minute, an hour).

        Args:
            wait: Seconds from now.
        """
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + wait)

    def _learn(self, now: float) -> None:
        last = self._last_refusal
        if last is not None and now - last < self._same_event_seconds():
            return  # requests sent before the last refusal, refused with it
        if last is None or not self._learning or self.rate is None:
            # The successes of the last second: a floor under the real rate.
            first = max(MIN_RATE, float(len(self._recent_successes)))
            self._set_rate(first)
            self._learning = True
        elif self._successes_since_refusal >= MIN_SUCCESSES_TO_MEASURE:
            # Sending faster than the limit, the API let exactly its rate through.
            # (It sent slower for part of that time in slow start, so this can be
            # low; probing upwards makes up for it.)
            measured = self._successes_since_refusal / (now - last)
            self._set_rate(max(MIN_RATE, BACK_OFF * measured))
            self._rate_known = True
        else:
            # Too few answers to measure: back off from the rate that was refused.
            self._set_rate(max(MIN_RATE, BACK_OFF_UNMEASURED * self.rate))
            self._rate_known = True
        self._last_refusal = now
        self._last_growth = now
        self._successes_since_refusal = 0

    def _set_rate(self, rate: float) -> None:
        if self._max_rate is not None:
            rate = min(rate, self._max_rate)
        self.rate = rate

    def _same_event_seconds(self) -> float:
        """How close refusals come that were on their way together."""
        rate = self.rate or float("inf")
        return max(SAME_EVENT_SECONDS, REQUESTS_IN_AN_EVENT / rate)

    def _grow(self, now: float) -> None:
        if not self._learning or self.rate is None:
            return
        step = GROWTH_STEP_SECONDS
        steps = int((now - self._last_growth) / step)
        if steps <= 0:
            return
        self._last_growth += steps * step
        if self._rate_known:
            growth = 1 + PROBE_GROWTH_PER_SECOND * step
        else:
            growth = SLOW_START_GROWTH  # slow start: the limit is far above
        self._set_rate(self.rate * growth**steps)


def _now() -> float:
    # time is looked up when called, so that tests can make the module's virtual.
    return time.monotonic()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)
