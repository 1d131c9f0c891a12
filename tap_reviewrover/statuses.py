"""What each HTTP status means for a sync: go on, try again, or stop with a line.

:func:`judge` is the one place that reads an answer's status. It returns for a
success, raises :class:`~tap_reviewrover.errors.RetriableError` for what another
try may fix (with the wait the API asked for, read once), and a
:class:`~tap_reviewrover.errors.ReviewRoverError` that tells the user what to do
for everything else.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import requests

from tap_reviewrover.errors import (
    CampaignNotFoundError,
    RequestRejectedError,
    RetriableError,
    TokenRejectedError,
    WrongApiUrlError,
    api_error_message,
)
from tap_reviewrover.redaction import REDACTOR
from tap_reviewrover.waits import retry_after

if t.TYPE_CHECKING:
    import datetime as dt

#: Statuses another try may fix: the API or a proxy in front was overwhelmed,
#: timed out waiting for the request (408), or refused for its rate limit (429).
RETRIED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read whole (within the size the tap accepts).

    Attributes:
        status: The status code.
        reason: The reason phrase.
        headers: The headers (a case-insensitive mapping).
        body: The body, decompressed.
        path_url: The request's path and query, for messages.
    """

    status: int
    reason: str
    headers: t.Mapping[str, str]
    body: bytes
    path_url: str


def judge(
    response: Answer,
    *,
    now: dt.datetime,
    where: str,
    params: t.Mapping[str, t.Any],
) -> None:
    """Check an answer's status.

    Args:
        response: The answer.
        now: The moment it was sent, on the API's clock when it said.
        where: The URL of the list, for messages.
        params: The request's parameters (the partition's filters).

    Raises:
        RetriableError: If another try may succeed.
        TokenRejectedError: On 401 and 403.
        CampaignNotFoundError: On a 404 for a campaign the API does not have.
        WrongApiUrlError: On any other 404, and on a redirect.
        RequestRejectedError: On any other status the tap cannot use.
    """
    status = response.status
    if requests.codes.ok <= status < requests.codes.multiple_choices:
        return
    if status in RETRIED_STATUSES or status >= requests.codes.internal_server_error:
        raise RetriableError(
            _status_line(response),
            wait=retry_after(response.headers, now=now),
            rate_limited=status == requests.codes.too_many_requests,
        )
    api_says = api_error_message(response.body)
    because = f": {api_says}" if api_says else ""
    if status == requests.codes.not_modified:
        # The tap sends no conditional request: a cache in between answered.
        msg = (
            f"ReviewRover answered 304 Not Modified for {where}, which the tap never "
            "asks for: a cache or proxy between the tap and the API is answering. "
            "Check HTTPS_PROXY and the network path to api_url."
        )
        raise RequestRejectedError(msg)
    if status < requests.codes.bad_request:
        location = REDACTOR.redact(response.headers.get("Location", "nowhere"))
        msg = (
            f"ReviewRover answered {status} {response.reason}, redirecting to "
            f"{location}; the tap does not follow redirects (they may leave "
            "https or drop the token). Set api_url to the API's real root."
        )
        raise WrongApiUrlError(msg)
    if status in {requests.codes.unauthorized, requests.codes.forbidden}:
        msg = (
            f"ReviewRover rejected the API token (HTTP {status}{because}). "
            "Check the auth_token setting (or TAP_REVIEWROVER_AUTH_TOKEN)."
        )
        raise TokenRejectedError(msg)
    if status == requests.codes.not_found:
        campaign = params.get("campaign_id")
        if campaign is not None and "campaign" in (api_says or "").lower():
            msg = (
                f"ReviewRover has no campaign {campaign!r} (HTTP 404{because}): it "
                "was deleted, or campaign_ids has a typo. Remove it from "
                "campaign_ids."
            )
            raise CampaignNotFoundError(msg)
        msg = (
            f"ReviewRover answered 404 Not Found for {where}{because}: the api_url "
            "setting looks wrong (it should be the API root, such as "
            "https://dashboard.reviewrover.co/api)."
        )
        raise WrongApiUrlError(msg)
    msg = (
        f"ReviewRover refused the request (HTTP {status}{because}). "
        f"Request: GET {REDACTOR.redact(response.path_url)}"
    )
    raise RequestRejectedError(msg)


def _status_line(response: Answer) -> str:
    message = f"HTTP {response.status} {response.reason}"
    api_says = api_error_message(response.body)
    return f"{message}: {api_says}" if api_says else message
