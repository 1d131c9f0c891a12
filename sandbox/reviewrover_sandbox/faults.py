"""Scripted misbehaviour of the sandbox's list endpoint.

A test queues faults before or while a sync runs::

    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "2"}), times=2)
    sandbox.faults.add(Fault.drop(), page=3)
    sandbox.faults.latency_seconds = 0.05  # every request, until reset

Each queued fault answers the next `times` list requests whose `page` matches
(any page when `page` is None), then it is used up. When several queued faults
match a request, the one queued first answers it.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Any


class FaultKind(enum.Enum):
    """How a faulty response misbehaves."""

    STATUS = "status"
    """An HTTP error status with a JSON body."""
    HTML = "html"
    """An HTTP error status with an HTML page, as a proxy in front would send."""
    SLOW = "slow"
    """A normal answer, after a delay."""
    DROP = "drop"
    """The connection is closed without any response."""
    TRUNCATE = "truncate"
    """Status 200 and the full Content-Length, but only half of the body."""
    NOT_JSON = "not_json"
    """Status 200 and a JSON Content-Type, but a body that is not JSON."""


@dataclass(frozen=True)
class Fault:
    """One kind of misbehaviour; build it with the class methods.

    Attributes:
        kind: What goes wrong.
        code: HTTP status of STATUS and HTML faults.
        body: JSON body of a STATUS fault; None for an API-style error.
        headers: Extra response headers of a STATUS fault.
        seconds: Delay of a SLOW fault.
    """

    kind: FaultKind
    code: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def status(
        cls,
        code: int,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer with an HTTP error status.

        Args:
            code: The status, e.g. 429 or 503.
            body: The JSON body; by default `{"error": {"type", "message"}}`.
            headers: Extra headers, e.g. `{"Retry-After": "3"}`.

        Returns:
            The fault.
        """
        return cls(FaultKind.STATUS, code=code, body=body, headers=headers or {})

    @classmethod
    def html(cls, code: int = 502) -> Fault:
        """Answer with a `text/html` error page, as a reverse proxy would.

        Args:
            code: The status.

        Returns:
            The fault.
        """
        return cls(FaultKind.HTML, code=code)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait before answering normally; pair it with a short client timeout.

        Args:
            seconds: The delay.

        Returns:
            The fault.
        """
        return cls(FaultKind.SLOW, seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending a response.

        Returns:
            The fault.
        """
        return cls(FaultKind.DROP)

    @classmethod
    def truncate(cls) -> Fault:
        """Send status 200 and the full Content-Length, then half the body.

        Returns:
            The fault.
        """
        return cls(FaultKind.TRUNCATE)

    @classmethod
    def not_json(cls) -> Fault:
        """Send status 200 with `Content-Type: application/json` and a non-JSON body.

        Returns:
            The fault.
        """
        return cls(FaultKind.NOT_JSON)


@dataclass
class _Scheduled:
    fault: Fault
    remaining: int
    page: int | None


class FaultPlan:
    """Thread-safe queue of faults for the list endpoint, plus global latency.

    Attributes:
        latency_seconds: Delay added to every request (any endpoint); 0 for none.
    """

    def __init__(self) -> None:
        """Create an empty plan."""
        self.latency_seconds = 0.0
        self._lock = threading.Lock()
        self._queue: list[_Scheduled] = []

    def add(self, fault: Fault, *, times: int = 1, page: int | None = None) -> None:
        """Queue a fault for the next `times` matching list requests.

        Args:
            fault: What goes wrong.
            times: How many consecutive matching requests it answers.
            page: Only requests for this page number match; None: any page.

        Raises:
            ValueError: `times` is less than 1.
        """
        if times < 1:
            msg = "times must be at least 1"
            raise ValueError(msg)
        with self._lock:
            self._queue.append(_Scheduled(fault, times, page))

    def take(self, page: int) -> Fault | None:
        """Use up one match of the first queued fault for a list request.

        The server calls this once per list request.

        Args:
            page: The requested page number.

        Returns:
            The fault to apply, or None to answer normally.
        """
        with self._lock:
            for scheduled in self._queue:
                if scheduled.page is None or scheduled.page == page:
                    scheduled.remaining -= 1
                    if scheduled.remaining == 0:
                        self._queue.remove(scheduled)
                    return scheduled.fault
            return None

    def pending(self) -> int:
        """Return how many faulty responses are still queued (over all faults)."""
        with self._lock:
            return sum(scheduled.remaining for scheduled in self._queue)

    def clear(self) -> None:
        """Drop all queued faults and reset the latency to 0."""
        with self._lock:
            self._queue.clear()
            self.latency_seconds = 0.0
