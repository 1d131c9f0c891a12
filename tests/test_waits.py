"""Every wait header, read once: Retry-After, RateLimit-Reset, X-RateLimit-Reset."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_reviewrover.waits import (
    MAX_EXPONENTIAL_WAIT_SECONDS,
    MAX_WAIT_SECONDS,
    PACED_WAIT_SECONDS,
    Wait,
    exponential_wait,
    rate_limit_reset,
    retry_after,
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
        ("\u00b2", None),  # a digit to str.isdigit, not to the RFC
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(
    header: str | None,
    seconds: float | None,
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    wait = retry_after(headers, now=NOW)
    assert (wait.seconds if wait else None) == seconds
    if wait is not None and header is not None:
        assert wait.cause == f"Retry-After: {header.strip()}"


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


NOW_EPOCH = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"RateLimit-Remaining": "3", "RateLimit-Reset": "1"}, None),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "2"}, 2.0),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "3600"}, 3600.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}, 7.0),
        # GitHub sends the reset as a moment in epoch seconds...
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000060"}, 60.0),
        # ... and some APIs in epoch milliseconds: not a wait of 1.7e12 s.
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000090000"}, 90.0),
        # A reset in the past: requests are allowed again.
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1699999999"}, 0.0),
        ({"RateLimit-Remaining": "0"}, 0.0),
        ({"RateLimit-Remaining": "none left"}, None),
        ({"RateLimit-Remaining": "\u00b2"}, None),
        ({}, None),
    ],
)
def test_rate_limit_headers_in_seconds_epoch_seconds_or_milliseconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    wait = rate_limit_reset(headers, now_epoch=NOW_EPOCH)
    assert (wait.seconds if wait else None) == seconds


def test_a_wait_names_its_header_and_knows_its_kind() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000090000"}
    wait = rate_limit_reset(headers, now_epoch=NOW_EPOCH)
    assert wait == Wait(
        90.0, "X-RateLimit-Remaining: 0, X-RateLimit-Reset: 1700000090000"
    )
    assert not wait.paced
    assert not wait.too_long
    assert Wait(PACED_WAIT_SECONDS, "").paced
    assert not Wait(MAX_WAIT_SECONDS, "").too_long
    assert Wait(MAX_WAIT_SECONDS + 1, "").too_long
