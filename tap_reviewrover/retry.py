"""How long to wait before trying a request again.

Pure functions: the stream feeds them the failed response and the random source.
"""

from __future__ import annotations

import random
import typing as t

from tap_reviewrover.timestamps import parse_http_date

if t.TYPE_CHECKING:
    import datetime as dt

#: First exponential wait, in seconds, when the API gave no ``Retry-After``.
BASE_WAIT_SECONDS = 1.0
#: Longest exponential wait, in seconds.
MAX_EXPONENTIAL_WAIT_SECONDS = 60.0
#: Longest wait the tap accepts from ``Retry-After``; asked for more, the sync stops
#: with a clear error rather than sleep for hours.
MAX_RETRY_AFTER_SECONDS = 600.0


def parse_retry_after(value: str | None, *, now: dt.datetime) -> float | None:
    """Read a ``Retry-After`` header (RFC 9110 §10.2.3).

    Args:
        value: The header: delay seconds (``"120"``) or an HTTP date.
        now: The moment the response was sent. Pass the response's own ``Date``
            when it has one, so that an HTTP date is read on the API's clock.

    Returns:
        Seconds to wait (never negative), or None when the header is absent or
        unreadable.
    """
    if value is None or not value.strip() or not value.isascii():
        return None  # "²" is a digit to str.isdigit, not to the RFC
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)  # not in the RFC, but some APIs send "1.5"
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < float("inf") else None
    moment = parse_http_date(text)
    if moment is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def exponential_wait(attempt: int, *, rand: t.Callable[[], float]) -> float:
    """The wait after the ``attempt``-th failure that came with no ``Retry-After``.

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


def wait_times(
    retry_after_of: t.Callable[[BaseException], float | None],
    *,
    rand: t.Callable[[], float] = random.random,
) -> t.Generator[float, BaseException | None, None]:
    """A ``backoff`` wait generator honouring ``Retry-After``.

    ``backoff`` primes the generator with ``None``, then sends each exception and
    sleeps for the value that comes back. A wait the API asked for is used as it
    is (no jitter: the API said when); any other wait is exponential with jitter.

    Args:
        retry_after_of: Reads the asked-for wait from an exception, if any.
        rand: A source of floats in [0, 1).

    Yields:
        Seconds to wait before the next try.
    """
    exception = yield 0.0
    attempt = 0
    while True:
        attempt += 1
        asked = retry_after_of(exception) if exception is not None else None
        if asked is not None:
            # Longer waits stop the sync before they get here (the stream's
            # validate_response); the cap is the last line of defence.
            exception = yield min(asked, MAX_RETRY_AFTER_SECONDS)
        else:
            exception = yield exponential_wait(attempt, rand=rand)
