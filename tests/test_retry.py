"""Retry-After parsing and the wait policy."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_reviewrover.retry import (
    MAX_EXPONENTIAL_WAIT_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    exponential_wait,
    parse_retry_after,
    wait_times,
)

NOW = dt.datetime(2026, 11, 26, 5, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("Thu, 26 Nov 2026 05:00:30 GMT", 30.0),
        ("Thu, 26 Nov 2026 04:59:00 GMT", 0.0),  # in the past: no wait
        (None, None),
        ("", None),
        ("-3", None),
        ("soon", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(
    header: str | None,
    seconds: float | None,
) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (12, 30.0, 60.0)],
)
def test_exponential_wait_doubles_with_jitter_inside_bounds(
    attempt: int,
    low: float,
    high: float,
) -> None:
    assert exponential_wait(attempt, rand=lambda: 0.0) == low
    assert exponential_wait(attempt, rand=lambda: 0.999999) == pytest.approx(high)
    assert exponential_wait(attempt, rand=lambda: 0.999999) <= (
        MAX_EXPONENTIAL_WAIT_SECONDS
    )


def test_wait_times_uses_retry_after_exactly_and_backs_off_otherwise() -> None:
    asked = {"rate limited": 7.0, "rate limited a lot": 10_000.0}

    def retry_after_of(exception: BaseException) -> float | None:
        return asked.get(str(exception))

    waits = wait_times(retry_after_of, rand=lambda: 0.5)
    next(waits)  # backoff primes the generator
    assert waits.send(RuntimeError("rate limited")) == 7.0  # no jitter on top
    assert waits.send(RuntimeError("server error")) == exponential_wait(
        2,
        rand=lambda: 0.5,
    )
    assert waits.send(RuntimeError("rate limited a lot")) == MAX_RETRY_AFTER_SECONDS
