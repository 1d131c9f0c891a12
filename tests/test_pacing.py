"""The pacer: as fast as the API allows, learnt from its refusals (no waiting).

The pacer runs here on a simulated clock against the sandbox's token bucket,
which takes the same clock: time passes only when the pacer sleeps or a request
is sent, so these tests are exact and instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from reviewrover_sandbox import TokenBucket

from tap_reviewrover.pacing import Pacer
from tap_reviewrover.waits import PACED_WAIT_SECONDS

#: What one request takes on the simulated network.
LATENCY = 0.001


@dataclass
class SimulatedClock:
    """Seconds that pass only when someone sleeps or sends a request."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        """The time now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Run:
    """What sending requests through a pacer to a token bucket came to."""

    seconds: float
    refusals: int
    final_rate: float | None


def send_through(
    pacer: Pacer, clock: SimulatedClock, bucket: TokenBucket | None, count: int
) -> Run:
    """Send ``count`` successful requests, one at a time, retrying refusals."""
    refusals = done = 0
    while done < count:
        pacer.wait_turn()
        clock.now += LATENCY
        decision = bucket.take() if bucket is not None else None
        if decision is None or decision.allowed:
            pacer.succeeded()
            done += 1
            continue
        refusals += 1
        if not pacer.refused(float(decision.retry_after_seconds)):
            clock.sleep(decision.retry_after_seconds)
    return Run(clock.now, refusals, pacer.rate)


def test_an_api_without_a_limit_is_never_paced() -> None:
    clock = SimulatedClock()
    run = send_through(Pacer(clock=clock, sleep=clock.sleep), clock, None, 200)
    assert clock.slept == []
    assert run.final_rate is None
    assert run.seconds == pytest.approx(200 * LATENCY)


def test_a_known_limit_is_kept_from_the_first_request() -> None:
    clock = SimulatedClock()
    pacer = Pacer(max_rate=5.0, clock=clock, sleep=clock.sleep)
    bucket = TokenBucket(rate=5.5, burst=1, clock=clock)
    run = send_through(pacer, clock, bucket, 50)
    assert run.refusals == 0
    assert run.seconds == pytest.approx(49 / 5.0 + LATENCY, rel=0.05)


@pytest.mark.parametrize(
    ("rate", "burst"), [(20.0, 5), (5.0, 2), (2.0, 1), (100.0, 10), (1.0, 1)]
)
def test_the_rate_of_a_token_bucket_is_learnt_with_few_refusals(
    rate: float, burst: int
) -> None:
    clock = SimulatedClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    count = math.ceil(10 * rate) + burst  # ten seconds' worth at the limit
    run = send_through(pacer, clock, bucket, count)
    ideal = (count - burst) / rate
    # Slow limits cost more to find: a second of slow start is a large share.
    assert run.seconds <= (1.3 if rate >= 5 else 1.5) * ideal
    assert run.refusals <= 8
    assert run.final_rate is not None
    assert 0.75 * rate <= run.final_rate <= 1.25 * rate


def test_the_learnt_rate_never_exceeds_the_setting() -> None:
    clock = SimulatedClock()
    pacer = Pacer(max_rate=3.0, clock=clock, sleep=clock.sleep)
    bucket = TokenBucket(rate=20.0, burst=5, clock=clock)
    run = send_through(pacer, clock, bucket, 40)
    assert run.refusals == 0
    assert run.final_rate == 3.0


def test_a_long_retry_after_is_left_to_the_retry_loop() -> None:
    clock = SimulatedClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    assert pacer.refused(30.0) is False  # waited out, by every request
    pacer.wait_turn()
    assert clock.now == 0.0
    assert pacer.rate is None  # a quota window says nothing of the rate


def test_a_quota_held_until_its_reset_pauses_every_request() -> None:
    clock = SimulatedClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.hold_until(30.0)
    pacer.wait_turn()  # any worker's next request
    assert clock.now == pytest.approx(30.0)
    assert pacer.rate is None


def test_headers_saying_none_are_left_for_now_slow_the_pace() -> None:
    clock = SimulatedClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.wait_turn()
        pacer.succeeded()
    pacer.none_left(1.0)
    assert pacer.rate == 5.0
    assert pacer.refusals == 0


def test_a_short_wait_is_covered_by_the_pacer() -> None:
    clock = SimulatedClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.succeeded()
    assert pacer.refused(PACED_WAIT_SECONDS) is True
    assert pacer.rate == 1.0  # the successes of the last second
