"""The kinds of misbehaviour a sandbox fault can have (see `faults.py`)."""

from __future__ import annotations

import enum


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
    SHORT = "short"
    """The page's records cut to the first few; pagination untouched."""
    PAGINATION = "pagination"
    """Fields of the `pagination` object overridden or removed."""
    SERVE_PAGE = "serve_page"
    """Another page's records under the requested page's pagination."""
    RECORDS = "records"
    """The page's records rewritten by a function."""
    DATE = "date"
    """The `Date` header off the API clock by an offset."""
    ECHO = "echo"
    """An error whose body quotes the request, Authorization header included."""
    DRIP = "drip"
    """A normal response sent one byte at a time."""
    RAW = "raw"
    """Exactly the given status, body and headers."""
    REDIRECT = "redirect"
    """A redirect to the given location."""
    RATE_LIMIT_HEADERS = "rate_limit_headers"
    """A normal answer with `RateLimit-*` / `X-RateLimit-*` headers."""
    GZIP_BOMB = "gzip_bomb"
    """A normal answer gzipped, padded to expand to a huge size."""


REPLACING_KINDS = frozenset(
    {
        FaultKind.STATUS,
        FaultKind.HTML,
        FaultKind.DROP,
        FaultKind.NOT_JSON,
        FaultKind.ECHO,
        FaultKind.RAW,
        FaultKind.REDIRECT,
    }
)
