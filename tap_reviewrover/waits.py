"""How long to wait: every wait an API can ask for, read in one place.

Pure functions: the requester feeds them a response's headers and its clock.
Each wait comes back as a :class:`Wait` that says how long and why, so that the
requester can cap it (:data:`MAX_WAIT_SECONDS`), name it in the log before it
starts, and tell a per-second limit (paced, :data:`PACED_WAIT_SECONDS`) from a
quota that must be waited out.

The headers, as APIs send them:

* ``Retry-After`` (RFC 9110): delay seconds, or an HTTP date (read against the
  response's own ``Date``, as the API's clock may differ from this host's);
* ``RateLimit-Remaining``/``RateLimit-Reset`` (IETF draft): seconds until reset;
* ``X-RateLimit-Remaining``/``X-RateLimit-Reset``: seconds until reset, or the
  moment of the reset as epoch seconds (GitHub) or epoch milliseconds.
"""

from __future__ import annotations

import random
import typing as t
from dataclasses import dataclass

from tap_reviewrover.timestamps import parse_http_date

if t.TYPE_CHECKING:
    import datetime as dt

#: Longest wait the tap accepts from any header; asked for more, the sync stops
#: with one line rather than sleep for hours, holding what it has read.
MAX_WAIT_SECONDS = 600.0
#: Waits up to this long are a per-second limit: the pacer spaces requests, no
#: one waits the whole of it.
PACED_WAIT_SECONDS = 1.0
#: First exponential wait, in seconds, when the API gave no wait of its own.
BASE_WAIT_SECONDS = 1.0
#: Longest exponential wait, in seconds.
MAX_EXPONENTIAL_WAIT_SECONDS = 60.0
#: A reset above this is a moment (epoch seconds), not a delay: a year of seconds.
EPOCH_SECONDS_FROM = 365 * 86_400
#: A reset above this is a moment in epoch milliseconds (the year 5138 in seconds).
EPOCH_MILLISECONDS_FROM = 100_000_000_000


@dataclass(frozen=True)
class Wait:
    """A wait the API asked for.

    Attributes:
        seconds: How long, from the moment the response was sent.
        cause: The header that asked, as sent, such as ``Retry-After: 7``.
    """

    seconds: float
    cause: str

    @property
    def paced(self) -> bool:
        """Whether it is short enough for the pacer to space instead."""
        return self.seconds <= PACED_WAIT_SECONDS

    @property
    def too_long(self) -> bool:
        """Whether it is longer than the tap waits."""
        return self.seconds > MAX_WAIT_SECONDS


def retry_after(headers: t.Mapping[str, str], *, now: dt.datetime) -> Wait | None:
    """The wait a ``Retry-After`` header asks for (RFC 9110 §10.2.3).

    Args:
        headers: The response's headers (a case-insensitive mapping).
        now: The moment the response was sent: its own ``Date`` when it has one.

    Returns:
        The wait (never negative), or None when the header is absent or
        unreadable (``"²"`` is a digit to :meth:`str.isdigit`, not to the RFC).
    """
    value = headers.get("Retry-After")
    if value is None or not value.strip() or not value.isascii():
        return None
    text = value.strip()
    seconds = _seconds(text)
    if seconds is None:
        moment = parse_http_date(text)
        if moment is None:
            return None
        seconds = max(0.0, (moment - now).total_seconds())
    return Wait(seconds, f"Retry-After: {text}")


def rate_limit_reset(headers: t.Mapping[str, str], *, now_epoch: float) -> Wait | None:
    """The wait rate-limit headers ask for, when they say none are left.

    Args:
        headers: The response's headers (a case-insensitive mapping).
        now_epoch: The API's clock when it answered, in epoch seconds.

    Returns:
        The wait until the reset when the remaining count is 0 (none when the
        reset is missing or unreadable: the pacer then learns from the next
        429); None when requests remain or the headers say nothing.
    """
    for prefix in ("RateLimit-", "X-RateLimit-"):
        remaining = _seconds(headers.get(prefix + "Remaining"))
        if remaining is None:
            continue
        if remaining > 0:
            return None
        reset_text = headers.get(prefix + "Reset")
        reset = _seconds(reset_text)
        cause = f"{prefix}Remaining: 0"
        if reset is None:
            return Wait(0.0, cause)
        if reset > EPOCH_MILLISECONDS_FROM:
            reset = reset / 1000 - now_epoch  # a moment, in epoch milliseconds
        elif reset > EPOCH_SECONDS_FROM:
            reset -= now_epoch  # a moment, in epoch seconds
        return Wait(max(0.0, reset), f"{cause}, {prefix}Reset: {reset_text}")
    return None


def exponential_wait(attempt: int, *, rand: t.Callable[[], float]) -> float:
    """The wait after the ``attempt``-th failure that came with no wait of its own.

    Doubles from :data:`BASE_WAIT_SECONDS` up to
    :data:`MAX_EXPONENTIAL_WAIT_SECONDS`, then keeps a random half of it ("equal
    jitter") so that many taps retrying at once do not retry in step.

    Args:
        attempt: 1 for the first failure, 2 for the second, and so on.
        rand: A source of floats in [0, 1).

    Returns:
        Seconds to wait.
    """
    ceiling = min(
        MAX_EXPONENTIAL_WAIT_SECONDS, BASE_WAIT_SECONDS * 2.0 ** (attempt - 1)
    )
    return ceiling / 2 + rand() * ceiling / 2


def jitter() -> float:
    """A random float in [0, 1), for :func:`exponential_wait`.

    Returns:
        The float.
    """
    return random.random()  # noqa: S311 - jitter, not a secret


def _seconds(text: str | None) -> float | None:
    """A non-negative, finite number of seconds written in ASCII, if it is one."""
    if text is None or not text.strip().isascii():
        return None
    try:
        # "1.5" is not in the RFC, but some APIs send it; "5, 10" lists a policy.
        value = float(text.strip().split(",")[0])
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None
