"""A server-wide token bucket in front of the sandbox's lists, and rate-limit headers.

    sandbox.rate_limit = TokenBucket(rate=20.0, burst=5, headers=True)

The bucket holds up to `burst` tokens and gains `rate` tokens a second. Each
list request takes one; a request that finds none is answered 429 with
`Retry-After`. The clock is injectable, so tests step time instead of sleeping.

`rate_limit_headers` renders the headers a `Fault.rate_limit_headers` adds to
normal answers, whatever the bucket says: `X-RateLimit-Reset` as a delay, as
epoch seconds or as epoch milliseconds, as different APIs send it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

ResetForm = Literal["delay", "epoch", "epoch_ms"]
"""How `X-RateLimit-Reset` tells the reset: seconds to wait, Unix s or ms."""
RESET_FORMS: tuple[ResetForm, ...] = get_args(ResetForm)

RateLimitSpelling = Literal["RateLimit", "X-RateLimit"]
"""The two families of rate-limit headers: the IETF draft's and the older one."""
RATE_LIMIT_SPELLINGS: tuple[RateLimitSpelling, ...] = get_args(RateLimitSpelling)

_MILLISECONDS = 1000


def rate_limit_headers(
    *,
    remaining: int,
    reset_seconds: float,
    now: datetime,
    x_reset: ResetForm = "delay",
    spellings: tuple[RateLimitSpelling, ...] = RATE_LIMIT_SPELLINGS,
) -> dict[str, str]:
    """Render `*-Remaining` and `*-Reset` headers.

    Args:
        remaining: The requests left.
        reset_seconds: Seconds until the limit resets.
        now: The server's time, for the epoch forms.
        x_reset: How `X-RateLimit-Reset` tells the reset; `RateLimit-Reset`
            is always the delay.
        spellings: Which families of headers to send.

    Returns:
        The headers.
    """
    delay = f"{reset_seconds:g}"
    reset_at = now.timestamp() + reset_seconds
    x_values = {
        "delay": delay,
        "epoch": str(math.floor(reset_at)),
        "epoch_ms": str(math.floor(reset_at * _MILLISECONDS)),
    }
    headers: dict[str, str] = {}
    for spelling in spellings:
        headers[f"{spelling}-Remaining"] = str(remaining)
        reset = x_values[x_reset] if spelling == "X-RateLimit" else delay
        headers[f"{spelling}-Reset"] = reset
    return headers


@dataclass(frozen=True)
class TokenDecision:
    """What the bucket decided for one request.

    Attributes:
        allowed: The request took a token and may be served.
        remaining: Whole tokens left after this request.
        reset_seconds: Whole seconds (rounded up) until a token is available;
            0 when one is available now.
    """

    allowed: bool
    remaining: int
    reset_seconds: int

    @property
    def retry_after_seconds(self) -> int:
        """The `Retry-After` of a refusal: integer seconds, at least 1."""
        return max(self.reset_seconds, 1)


class TokenBucket:
    """A thread-safe token bucket: `burst` requests at once, `rate` a second after.

    Attributes:
        rate: Tokens gained per second.
        burst: The most tokens the bucket holds (it starts full).
        headers: Whether list responses carry `RateLimit-*` and `X-RateLimit-*`
            headers.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        headers: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a full bucket.

        Args:
            rate: Tokens gained per second; more than 0.
            burst: Capacity in tokens; at least 1.
            headers: Send rate-limit headers with every list response.
            clock: Monotonic seconds; `time.monotonic` unless a test steps time.

        Raises:
            ValueError: `rate` or `burst` is out of range.
        """
        if not rate > 0 or burst < 1:
            msg = "rate must be more than 0 and burst at least 1"
            raise ValueError(msg)
        self.rate = rate
        self.burst = burst
        self.headers = headers
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> TokenDecision:
        """Take a token for one request, if there is one.

        Returns:
            Whether the request may go ahead, and the bucket's state after it.
        """
        with self._lock:
            now = self._clock()
            elapsed = max(now - self._updated, 0.0)
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._updated = now
            allowed = self._tokens >= 1
            if allowed:
                self._tokens -= 1
            missing = max(1 - self._tokens, 0.0)
            # Round the float noise of `elapsed * rate` before rounding up.
            reset = math.ceil(round(missing / self.rate, 9))
            return TokenDecision(allowed, math.floor(self._tokens), reset)

    def response_headers(self, decision: TokenDecision) -> dict[str, str]:
        """The rate-limit headers of a response, in both common spellings.

        `Limit` is the bucket's capacity, `Remaining` the whole tokens left,
        `Reset` the seconds until a token is available.

        Args:
            decision: What `take()` decided for the request.

        Returns:
            The headers; empty when the bucket does not send headers.
        """
        if not self.headers:
            return {}
        values = {
            "Limit": str(self.burst),
            "Remaining": str(decision.remaining),
            "Reset": str(decision.reset_seconds),
        }
        return {
            f"{prefix}RateLimit-{name}": value
            for prefix in ("", "X-")
            for name, value in values.items()
        }
