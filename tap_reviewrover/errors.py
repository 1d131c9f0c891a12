"""Errors a user can act on, and how failures are told in a few words.

Every :class:`ReviewRoverError` is printed as one clear line, without a
traceback (``tap_reviewrover.cli.main``), and none of them carries a secret.
A :class:`RetriableError` is a failed try that the requester may try again.
"""

from __future__ import annotations

import json
import socket
import ssl
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError
from urllib3.exceptions import NameResolutionError, ProxyError

from tap_reviewrover.redaction import REDACTOR

if t.TYPE_CHECKING:
    from tap_reviewrover.waits import Wait

#: Longest piece of an API error body quoted in a message.
MAX_QUOTED_CHARS = 300


class ReviewRoverError(FatalAPIError):
    """A sync cannot go on; the message says why and what to check."""


class TokenRejectedError(ReviewRoverError):
    """The API answered 401 or 403."""


class WrongApiUrlError(ReviewRoverError):
    """The API answered 404 for the list endpoint, or redirected."""


class CampaignNotFoundError(ReviewRoverError):
    """The API has no campaign of that id (deleted, or a typo in campaign_ids)."""


class RequestRejectedError(ReviewRoverError):
    """The API answered 400 or 422: it refused a parameter the tap sent."""


class RetriesExhaustedError(ReviewRoverError):
    """A request kept failing with retriable errors."""


class WaitTooLongError(ReviewRoverError):
    """The API asked to wait longer than the tap waits."""


#: The name earlier versions gave :class:`WaitTooLongError`.
RetryAfterTooLongError = WaitTooLongError


class BadResponseError(ReviewRoverError):
    """The API answered 200 with a body the tap cannot use."""


class ConnectionFailedError(ReviewRoverError):
    """The API cannot be reached in a way that trying again will not fix."""


class InvalidStateError(ReviewRoverError):
    """The state file given with ``--state`` cannot be used."""


class RetriableError(Exception):
    """One try failed in a way that another try may not.

    Attributes:
        reason: What happened, in a few words.
        wait: The wait the API asked for, if it did.
        rate_limited: Whether the API refused for its rate limit (429).
    """

    def __init__(
        self, reason: str, *, wait: Wait | None = None, rate_limited: bool = False
    ) -> None:
        """Describe the failed try.

        Args:
            reason: What happened.
            wait: The wait the API asked for, if any.
            rate_limited: Whether it was a 429.
        """
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.rate_limited = rate_limited


def api_error_message(body: bytes) -> str | None:
    """The API's own explanation from an error response, if it gave one.

    Understands ``{"error": {"message": ...}}``, ``{"error": "..."}``,
    ``{"message": "..."}`` and ``{"errors": [...]}``; HTML pages and other bodies
    give None rather than a page of markup. Some APIs quote the request back in
    their errors: the secrets are hidden.

    Args:
        body: The error response's body.

    Returns:
        The message, shortened to :data:`MAX_QUOTED_CHARS`, or None.
    """
    try:
        decoded: object = json.loads(body)
    except (ValueError, RecursionError):
        return None
    message: object = None
    if isinstance(decoded, dict):
        error = decoded.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        if message is None:
            message = decoded.get("message") or decoded.get("errors")
    if message is None or message in ("", [], {}):
        return None
    text = message if isinstance(message, str) else str(message)
    return shorten(REDACTOR.redact(text))


def shorten(text: str) -> str:
    """Cut ``text`` to :data:`MAX_QUOTED_CHARS`, marking the cut.

    Args:
        text: Any text.

    Returns:
        The text, or its beginning followed by an ellipsis.
    """
    text = " ".join(text.split())
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    return text[: MAX_QUOTED_CHARS - 1] + "…"


def transport_failure(
    exception: BaseException, *, timeout: float, url: str
) -> tuple[str, bool]:
    """Say in a few words why a request got no answer, and whether to retry.

    Args:
        exception: The error ``requests`` raised.
        timeout: The request timeout in force, in seconds.
        url: The API's root, for the messages.

    Returns:
        The description (free of credentials and headers), and whether another
        try may succeed: an untrusted certificate will not be trusted on the next
        try, nor an invalid URL become valid.
    """
    host = urlsplit(url).hostname
    told: dict[str, tuple[bool, str]] = {
        "certificate": (
            False,
            (
                f"the TLS certificate of {url} is not trusted "
                f"({_certificate_reason(exception)}); behind a company proxy or with "
                "a private CA, point REQUESTS_CA_BUNDLE at its CA bundle"
            ),
        ),
        "proxy": (
            True,
            (
                "the proxy from HTTPS_PROXY/HTTP_PROXY did not let the request "
                "through (is it running, and does it allow this host? NO_PROXY lists "
                "the hosts reached directly)"
            ),
        ),
        "dns": (
            True,
            (
                f"the host name {host} could not be resolved (DNS): check api_url "
                "and this machine's network"
            ),
        ),
        "refused": (
            True,
            (
                f"the connection was refused: nothing is listening at {url} (is the "
                "API, or the local sandbox, running there?)"
            ),
        ),
        "timeout": (True, f"no whole answer within the {timeout:g} s request timeout"),
        "cut": (True, "the connection closed before the whole body arrived"),
        "url": (False, "an invalid URL"),
        "dropped": (True, "the connection failed or was dropped"),
    }
    kind = _kind_of_failure(exception)
    if kind is None:
        return f"{type(exception).__name__}: {REDACTOR.redact(str(exception))}", True
    retriable, words = told[kind]
    return words, retriable


def _kind_of_failure(exception: BaseException) -> str | None:  # noqa: PLR0911 - one per kind
    """Which of the failures :func:`transport_failure` tells apart this one is."""
    if isinstance(exception, requests.exceptions.SSLError) or _caused_by(
        exception, ssl.SSLCertVerificationError
    ):
        return "certificate"
    if isinstance(exception, requests.exceptions.ProxyError) or _caused_by(
        exception, ProxyError
    ):
        return "proxy"
    if _caused_by(exception, NameResolutionError) or _caused_by(
        exception, socket.gaierror
    ):
        return "dns"
    if _caused_by(exception, ConnectionRefusedError):
        return "refused"
    if isinstance(exception, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exception, requests.exceptions.ChunkedEncodingError):
        return "cut"
    if isinstance(exception, requests.exceptions.InvalidURL):
        return "url"
    if isinstance(exception, (requests.exceptions.ConnectionError, ConnectionError)):
        return "dropped"
    return None


def _certificate_reason(exception: BaseException) -> str:
    for error in _causes(exception):
        if isinstance(error, ssl.SSLCertVerificationError):
            return str(error.verify_message or error.reason or "verification failed")
    return "verification failed"


def _caused_by(exception: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is behind ``exception`` (requests wraps urllib3's errors)."""
    return any(isinstance(error, kind) for error in _causes(exception))


def _causes(exception: BaseException) -> t.Iterator[BaseException]:
    """The exception and those behind it: arguments, reasons, causes, contexts."""
    seen: set[int] = set()
    waiting: list[object] = [exception]
    while waiting and len(seen) < 50:  # noqa: PLR2004 - far more than any chain
        error = waiting.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        waiting.extend(
            [
                *error.args,
                getattr(error, "reason", None),
                error.__cause__,
                error.__context__,
            ]
        )
