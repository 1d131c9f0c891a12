"""What the sandbox sends: responses, the API's error JSON, faults' answers.

Pure functions and plain data; `server.py` does the HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING

from reviewrover_sandbox.kinds import FaultKind

if TYPE_CHECKING:
    from reviewrover_sandbox.faults import Fault

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "method_not_allowed",
    409: "already_enrolled",
    413: "invalid_request_error",
    422: "validation_error",
    429: "rate_limit_exceeded",
}


@dataclass
class Response:
    """One response to send.

    Attributes:
        status: The HTTP status.
        body: The body bytes.
        content_type: The `Content-Type`; None sends none.
        headers: Extra headers.
        drop: Close the connection without sending anything.
        truncate: Send only the first half of the body, then close.
        drip_interval: Send the body one byte at a time, pausing this many
            seconds after each; None sends it at once.
        drip_head: With `drip_interval`, drip the status line and headers too.
        date_offset_seconds: Added to the API clock in the `Date` header.
    """

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate: bool = False
    drip_interval: float | None = None
    drip_head: bool = False
    date_offset_seconds: float = 0.0


class ApiError(Exception):
    """A request the API refuses, with the status and message of its error JSON."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        """Describe the refusal.

        Args:
            status: The HTTP status.
            message: The error message.
            headers: Extra response headers, e.g. `Allow` or `WWW-Authenticate`.
        """
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        """Return the error as a response with the API's error JSON."""
        return Response(
            self.status,
            error_body(self.status, self.message),
            headers=dict(self.headers),
        )


def json_bytes(value: object) -> bytes:
    """Render a value as compact JSON.

    Args:
        value: Anything `json.dumps` takes.
    """
    return json.dumps(value, separators=(",", ":")).encode()


def error_body(status: int, message: str) -> bytes:
    """Render the API's error JSON: `{"error": {"type": ..., "message": ...}}`.

    Args:
        status: The HTTP status, which picks the error type.
        message: A human-readable explanation.

    Returns:
        The JSON body.
    """
    error_type = _ERROR_TYPES.get(
        status,
        "server_error" if status >= HTTPStatus.INTERNAL_SERVER_ERROR else "api_error",
    )
    return json_bytes({"error": {"type": error_type, "message": message}})


def list_body(name: str, items_json: bytes, pagination: dict[str, object]) -> bytes:
    """Render a list answer: `{"<name>": [...], "pagination": {...}}`.

    Args:
        name: The list's name, e.g. `enrollments`.
        items_json: The records as a JSON array.
        pagination: The `pagination` object.

    Returns:
        The JSON body.
    """
    return (
        b'{"'
        + name.encode()
        + b'":'
        + items_json
        + b',"pagination":'
        + json_bytes(pagination)
        + b"}"
    )


def reason_phrase(code: int) -> str:
    """Return the reason phrase of a status; empty for a status without one.

    Args:
        code: The HTTP status, e.g. 404 or 499.
    """
    try:
        return HTTPStatus(code).phrase
    except ValueError:  # a status the stdlib does not know, e.g. 499
        return ""


def replacing_response(  # noqa: PLR0911 - one answer per fault kind
    fault: Fault, *, method: str, target: str, authorization: str
) -> Response:
    """Build the response a fault sends instead of the API's.

    Args:
        fault: A fault whose `replaces_response` is true.
        method: The request's method, quoted by ECHO.
        target: The request target (path and query), quoted by ECHO.
        authorization: The raw `Authorization` header value, quoted by ECHO.

    Returns:
        The response.

    Raises:
        ValueError: The fault alters the normal response instead.
    """
    kind = fault.kind
    if kind is FaultKind.STATUS:
        body = (
            json_bytes(fault.body)
            if fault.body is not None
            else error_body(fault.code, reason_phrase(fault.code))
        )
        return Response(fault.code, body, headers=dict(fault.headers))
    if kind is FaultKind.HTML:
        title = f"{fault.code} {reason_phrase(fault.code)}"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return Response(fault.code, page.encode(), "text/html")
    if kind is FaultKind.DROP:
        return Response(HTTPStatus.OK, drop=True)
    if kind is FaultKind.NOT_JSON:
        return Response(HTTPStatus.OK, b"Service temporarily unavailable.\n")
    if kind is FaultKind.ECHO:
        message = f"token {authorization} is invalid for {method} {target}"
        return Response(
            fault.code, json_bytes({"error": message}), headers=dict(fault.headers)
        )
    if kind is FaultKind.RAW:
        return Response(
            fault.code, fault.content, fault.content_type, headers=dict(fault.headers)
        )
    if kind is FaultKind.REDIRECT:
        return Response(
            fault.code, content_type=None, headers={"Location": fault.location}
        )
    msg = f"{kind} alters the normal response instead of replacing it"
    raise ValueError(msg)
