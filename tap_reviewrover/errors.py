"""Errors a user can act on, and how API error responses are described.

Every error here is printed as one clear line, without a traceback (see
``TapReviewRover.invoke``), and none of them carries the API token.
"""

from __future__ import annotations

import typing as t

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

#: Longest piece of an API error body quoted in a message.
MAX_QUOTED_CHARS = 300


class ReviewRoverError(FatalAPIError):
    """A sync cannot go on; the message says why and what to check."""


class TokenRejectedError(ReviewRoverError):
    """The API answered 401 or 403."""


class WrongApiUrlError(ReviewRoverError):
    """The API answered 404 for the list endpoint."""


class RequestRejectedError(ReviewRoverError):
    """The API answered 400 or 422: it refused a parameter the tap sent."""


class RateLimitedError(RetriableAPIError):
    """The API answered 429: too many requests.

    Attributes:
        retry_after: The wait it asked for, in seconds, if it said.
        paced: Set once the pacer spaces the retry itself (a short wait that a
            learnt rate covers); the retry then waits for its turn only.
    """

    def __init__(
        self, message: str, response: requests.Response, retry_after: float | None
    ) -> None:
        """Describe the refusal.

        Args:
            message: What happened.
            response: The 429 response.
            retry_after: The wait it asked for, if any.
        """
        super().__init__(message, response)
        self.retry_after = retry_after
        self.paced = False


class RetriesExhaustedError(ReviewRoverError):
    """A request kept failing with retriable errors."""


class RetryAfterTooLongError(ReviewRoverError):
    """The API asked to wait longer than the tap waits (``Retry-After``)."""


class BadResponseError(ReviewRoverError):
    """The API answered 200 with a body the tap cannot use."""


class InvalidStateError(ReviewRoverError):
    """The state file given with ``--state`` cannot be used."""


def api_error_message(response: requests.Response) -> str | None:
    """The API's own explanation from an error response, if it gave one.

    Understands ``{"error": {"message": ...}}``, ``{"error": "..."}``,
    ``{"message": "..."}`` and ``{"errors": [...]}``; HTML pages and other bodies
    give None rather than a page of markup. Some APIs quote the request back in
    their errors: the token the request carried is replaced by ``***``.

    Args:
        response: The error response.

    Returns:
        The message, shortened to :data:`MAX_QUOTED_CHARS`, or None.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    message: object = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        if message is None:
            message = body.get("message") or body.get("errors")
    if message is None or message in ("", [], {}):
        return None
    text = message if isinstance(message, str) else str(message)
    return shorten(redact(text, _credentials_of(response.request)))


def _credentials_of(request: requests.PreparedRequest | None) -> list[str]:
    if request is None:
        return []
    authorization = request.headers.get("Authorization", "")
    _, _, token = authorization.partition(" ")
    return [authorization, token]


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


def redact(text: str, secrets: t.Iterable[object]) -> str:
    """Hide every secret value that occurs in ``text``.

    Args:
        text: A message that may quote configuration values.
        secrets: The secret values (empty ones are skipped).

    Returns:
        The text with each secret, and its ``repr``, replaced by ``'***'``.
    """
    for secret in secrets:
        if secret is None or secret == "":
            continue
        for form in (repr(secret), str(secret)):
            text = text.replace(form, "'***'" if form.startswith("'") else "***")
    return text


def describe_failure(exception: BaseException, *, timeout: float, url: str) -> str:
    """Say in a few words why a try failed.

    Args:
        exception: The error of a failed try.
        timeout: The request timeout in force, in seconds.
        url: The API's root, for a connection that was refused.

    Returns:
        A short description, free of URLs' credentials and headers.
    """
    if _caused_by(exception, ConnectionRefusedError):
        return (
            f"the connection was refused: nothing is listening at {url} (is the "
            "API, or the local sandbox, running there?)"
        )
    if isinstance(exception, requests.exceptions.Timeout):
        return f"no whole answer within the {timeout:g} s request timeout"
    for kind, words in _FAILURES:
        if isinstance(exception, kind):
            return words
    if isinstance(exception, RetriableAPIError):
        return str(exception)
    return f"{type(exception).__name__}: {exception}"


#: How a failed try is told, by kind of error, the first that matches.
_FAILURES: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...
] = (
    (
        requests.exceptions.ChunkedEncodingError,
        "the connection closed before the whole body arrived",
    ),
    (requests.exceptions.InvalidURL, "an invalid URL"),
    (
        (requests.exceptions.ConnectionError, ConnectionError),
        "the connection failed or was dropped",
    ),
)


def _caused_by(exception: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is behind ``exception`` (requests wraps urllib3's errors)."""
    seen: list[object] = [exception]
    while seen:
        error = seen.pop()
        if isinstance(error, kind):
            return True
        if isinstance(error, BaseException) and len(seen) < 20:  # noqa: PLR2004
            seen.extend([*error.args, getattr(error, "reason", None), error.__cause__])
    return False
