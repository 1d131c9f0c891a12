r"""Scripted misbehaviour of the sandbox's list endpoints: what one fault does.

A test queues faults on `sandbox.faults` (a `FaultPlan`, see `plan.py`)::

    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "2"}), times=2)
    sandbox.faults.add(Fault.drop(), page=3)

Faults that replace the response (`status`, `html`, `drop`, `not_json`, `echo`,
`raw`, `redirect`) answer before authentication, as a proxy in front of the
API would. The others alter the normal answer, so it is only sent to an
authenticated, valid request; `date` shifts the `Date` of whatever is sent.
The kinds are listed in `kinds.py`.

For issue 13's hostile API: `rate_limit_headers` (what is left and when it
resets, `X-RateLimit-Reset` as a delay, epoch seconds or epoch milliseconds)
and `gzip_bomb` (a small gzip body that expands to gigabytes). Bad values in
single records go through `records`, e.g. a lone surrogate `"\ud800"`, a NUL
`"\u0000"`, a leap second `23:59:60Z`, an id of 2**63, an id twice in a page
or a stale copy on a later page; `raw(304, b"", content_type=None)` answers a
list with 304 and no body, `status(408)` is a request timeout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reviewrover_sandbox.kinds import REPLACING_KINDS, FaultKind
from reviewrover_sandbox.ratelimit import (
    RATE_LIMIT_SPELLINGS,
    RESET_FORMS,
    RateLimitSpelling,
    ResetForm,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    RecordsTransform = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Fault:
    """One kind of misbehaviour; build it with the class methods.

    Attributes:
        kind: What goes wrong.
        code: HTTP status of STATUS, HTML, ECHO, RAW and REDIRECT faults.
        body: JSON body of a STATUS fault; None for an API-style error.
        headers: Extra response headers of STATUS, ECHO and RAW faults.
        seconds: The delay of SLOW, the pause after each byte of DRIP, the
            offset of DATE, the time to the reset of RATE_LIMIT_HEADERS.
        keep: How many records a SHORT fault keeps.
        overrides: Field overrides of a PAGINATION fault; None removes one.
        page_number: The page whose records a SERVE_PAGE fault serves.
        transform: The function a RECORDS fault passes the records through.
        content: The body of a RAW fault.
        content_type: The `Content-Type` of a RAW fault; None sends none.
        location: The `Location` of a REDIRECT fault.
        headers_too: Whether a DRIP fault drips the status line and headers too.
        remaining: The requests left that RATE_LIMIT_HEADERS announces.
        reset_form: How RATE_LIMIT_HEADERS writes `X-RateLimit-Reset`.
        spellings: Which headers RATE_LIMIT_HEADERS sends: "RateLimit",
            "X-RateLimit" or both.
        expanded_bytes: The size a GZIP_BOMB's body expands to.
    """

    kind: FaultKind
    code: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    keep: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    page_number: int = 1
    transform: RecordsTransform | None = None
    content: bytes = b""
    content_type: str | None = "application/json"
    location: str = ""
    headers_too: bool = False
    remaining: int = 0
    reset_form: ResetForm = "delay"
    spellings: tuple[RateLimitSpelling, ...] = ()
    expanded_bytes: int = 0

    @property
    def replaces_response(self) -> bool:
        """Whether the fault answers instead of the API (before authentication)."""
        return self.kind in REPLACING_KINDS

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

    @classmethod
    def short(cls, keep: int) -> Fault:
        """Serve only the page's first `keep` records; `pagination` is untouched.

        Args:
            keep: How many records to keep (0 or more).

        Returns:
            The fault.

        Raises:
            ValueError: `keep` is negative.
        """
        if keep < 0:
            msg = "keep must be 0 or more"
            raise ValueError(msg)
        return cls(FaultKind.SHORT, keep=keep)

    @classmethod
    def empty(cls) -> Fault:
        """Serve the page without any records: `short(0)`.

        Returns:
            The fault.
        """
        return cls.short(0)

    @classmethod
    def pagination(cls, **fields: Any) -> Fault:  # noqa: ANN401 - any JSON value
        """Override fields of the response's `pagination` object; records untouched.

        For example `Fault.pagination(total_pages=10**9)` or
        `Fault.pagination(total=None)` (None removes the field).

        Args:
            **fields: The values that replace the real ones.

        Returns:
            The fault.
        """
        return cls(FaultKind.PAGINATION, overrides=dict(fields))

    @classmethod
    def serve_page(cls, number: int) -> Fault:
        """Answer with the records of page `number`, described as the requested page.

        Same limit and filters, as the list stands now. Two of them, page 1 to
        2 and page 2 to 1, serve pages 1 and 2 swapped.

        Args:
            number: The page whose records are served, from 1.

        Returns:
            The fault.

        Raises:
            ValueError: `number` is less than 1.
        """
        if number < 1:
            msg = "number must be at least 1"
            raise ValueError(msg)
        return cls(FaultKind.SERVE_PAGE, page_number=number)

    @classmethod
    def records(cls, transform: RecordsTransform) -> Fault:
        """Serve the page's records as `transform` rewrites them.

        `transform` gets the records as decoded dicts (copies) and returns the
        list to serve, e.g. with `id` "500", `completed` "yes", an impossible
        timestamp, a record without `id` or with extra fields.

        Args:
            transform: The rewrite; it runs in the request's thread.

        Returns:
            The fault.
        """
        return cls(FaultKind.RECORDS, transform=transform)

    @classmethod
    def date(cls, offset_seconds: float) -> Fault:
        """Send the response's `Date` header as the API clock plus an offset.

        Nothing else changes, records included.

        Args:
            offset_seconds: Added to the API clock; negative for the past.

        Returns:
            The fault.
        """
        return cls(FaultKind.DATE, seconds=offset_seconds)

    @classmethod
    def echo(cls, code: int, *, headers: dict[str, str] | None = None) -> Fault:
        """Answer an error whose JSON body quotes the request back.

        As some APIs do: `{"error": "token Bearer abc is invalid for GET
        /api/v1/enrollments?page=1"}`, with the raw `Authorization` value and
        the request target.

        Args:
            code: The status, e.g. 401.
            headers: Extra headers.

        Returns:
            The fault.
        """
        return cls(FaultKind.ECHO, code=code, headers=headers or {})

    @classmethod
    def drip(cls, interval: float, *, headers_too: bool = False) -> Fault:
        """Send the normal 200 response one byte every `interval` seconds.

        The full `Content-Length` is declared up front. The drip stops when the
        server stops; a client that hangs up just ends it.

        Args:
            interval: Seconds between bytes.
            headers_too: Drip the status line and headers as well, not only
                the body.

        Returns:
            The fault.
        """
        return cls(FaultKind.DRIP, seconds=interval, headers_too=headers_too)

    @classmethod
    def raw(
        cls,
        code: int,
        body: bytes,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer exactly this: e.g. JSON nested 1,000 deep, or non-UTF-8 bytes.

        Args:
            code: The status.
            body: The body bytes.
            content_type: The `Content-Type`; None sends none, as for
                `raw(304, b"", content_type=None)`: a list answered "not
                modified", without a body (or a `Content-Length`).
            headers: Extra headers.

        Returns:
            The fault.
        """
        return cls(
            FaultKind.RAW,
            code=code,
            content=body,
            content_type=content_type,
            headers=headers or {},
        )

    @classmethod
    def redirect(cls, location: str, code: int = 302) -> Fault:
        """Answer a redirect, e.g. to `http://127.0.0.1:99999/...` (a bad port).

        Args:
            location: The `Location` header.
            code: The status, e.g. 301, 302, 307 or 308.

        Returns:
            The fault.
        """
        return cls(FaultKind.REDIRECT, code=code, location=location)

    @classmethod
    def rate_limit_headers(
        cls,
        remaining: int,
        reset_seconds: float,
        *,
        x_reset: ResetForm = "delay",
        spellings: tuple[RateLimitSpelling, ...] = RATE_LIMIT_SPELLINGS,
    ) -> Fault:
        """Answer normally, with headers saying how many requests are left.

        `RateLimit-Remaining` and `RateLimit-Reset` (seconds to wait, as the
        IETF draft has it), and `X-RateLimit-Remaining` and `X-RateLimit-Reset`
        with the reset as `x_reset` says: "delay" (seconds to wait), "epoch"
        (Unix seconds) or "epoch_ms" (Unix milliseconds), reckoned on the
        sandbox's date clock when the answer is sent. For example the hour-long
        wait on every answer::

            sandbox.faults.add(Fault.rate_limit_headers(0, 3600), times=None)

        Args:
            remaining: The requests left, e.g. 0.
            reset_seconds: The time until the limit resets, in seconds.
            x_reset: The form of `X-RateLimit-Reset`.
            spellings: The headers to send: ("RateLimit",), ("X-RateLimit",)
                or both (the default).

        Returns:
            The fault.

        Raises:
            ValueError: `x_reset` or a spelling is not one of the known ones.
        """
        if x_reset not in RESET_FORMS:
            msg = f"x_reset must be one of {RESET_FORMS}"
            raise ValueError(msg)
        if not set(spellings) <= set(RATE_LIMIT_SPELLINGS):
            msg = f"spellings must be some of {RATE_LIMIT_SPELLINGS}"
            raise ValueError(msg)
        return cls(
            FaultKind.RATE_LIMIT_HEADERS,
            seconds=reset_seconds,
            remaining=remaining,
            reset_form=x_reset,
            spellings=tuple(spellings),
        )

    @classmethod
    def gzip_bomb(cls, expanded_bytes: int) -> Fault:
        """Answer 200 with `Content-Encoding: gzip`: a small body that expands hugely.

        The expanded body is the normal answer followed by spaces up to
        `expanded_bytes` (still valid JSON); 2 GiB take about 2 MB on the
        wire. Whatever the request's `Accept-Encoding` says.

        Args:
            expanded_bytes: The size the body expands to, e.g. `2 * 2**30`
                (at least the normal answer's size).

        Returns:
            The fault.
        """
        return cls(FaultKind.GZIP_BOMB, expanded_bytes=expanded_bytes)

    def alter_listing(
        self, items_json: bytes, pagination: dict[str, Any]
    ) -> tuple[bytes, dict[str, Any]]:
        """Apply a SHORT, RECORDS or PAGINATION fault to a list answer.

        Args:
            items_json: The page's records as a JSON array.
            pagination: The `pagination` object.

        Returns:
            The records and pagination to serve; unchanged for other kinds.
        """
        if self.kind is FaultKind.SHORT:
            records = json.loads(items_json)[: self.keep]
            return _json_bytes(records), pagination
        if self.kind is FaultKind.RECORDS and self.transform is not None:
            return _json_bytes(self.transform(json.loads(items_json))), pagination
        if self.kind is FaultKind.PAGINATION:
            altered = {**pagination, **self.overrides}
            return items_json, {k: v for k, v in altered.items() if v is not None}
        return items_json, pagination


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
