"""The HTTP session a sync uses, set up once, and what each request logs."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
import typing as t
from urllib.parse import urlencode

import requests
from requests.hooks import dispatch_hook
from singer_sdk import metrics

from tap_reviewrover.deadline import DeadlineAdapter
from tap_reviewrover.errors import BadResponseError
from tap_reviewrover.statuses import Answer, judge

#: Bytes read from the socket at a time (decompressed at most that much at once).
READ_CHUNK_BYTES = 64 * 1024

if t.TYPE_CHECKING:
    from collections.abc import Mapping


def settled(session: requests.Session, url: str) -> requests.Session:
    """The session, with the environment read once for the API's URL.

    ``requests`` would look up the proxy variables and ``~/.netrc`` on every
    request (a tenth of the tap's CPU), and a ``.netrc`` entry for the host would
    replace the bearer token: the proxies (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``)
    are settled now, as ``requests`` itself would settle them, and nothing more
    is read from the environment. A redirect is refused as soon as it arrives.

    Args:
        session: The SDK's session for the stream.
        url: The API's URL.

    Returns:
        The session.
    """
    session.trust_env = True
    environment = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(environment["proxies"])
    session.verify = environment["verify"]
    session.trust_env = False
    # Connections that a deadline on the whole response can cut, and room for
    # every worker's, so that none is re-opened.
    adapter = DeadlineAdapter(pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.hooks["response"].append(_refuse_redirect)
    return session


def send(
    session: requests.Session, prepared: requests.PreparedRequest, *, timeout: float
) -> requests.Response:
    """Send a request as ``session.send`` would, streamed, for less CPU.

    The session is :func:`settled`: its proxies and CA bundle are read already,
    a redirect is refused (its hook runs here, as ``Session.send`` runs the
    response hooks), and every request is a copy of one prepared template, so
    cookies the session kept would not be sent anyway. The transport adapter
    sends it directly: ``Session.send`` would redo that work on every page
    (about 96,000 of a page's 1.7 million instructions, measured).

    Args:
        session: The settled session.
        prepared: The request.
        timeout: Seconds to connect, and between two reads.

    Returns:
        The response, its body not read yet.
    """
    adapter = session.get_adapter(t.cast("str", prepared.url))
    started = time.perf_counter()
    response = adapter.send(
        prepared,
        stream=True,  # the body is read by the caller, up to the size cap
        timeout=(timeout, timeout),
        verify=True if session.verify is None else session.verify,
        cert=session.cert,
        proxies=session.proxies,
    )
    response.elapsed = dt.timedelta(seconds=time.perf_counter() - started)
    # As Session.send runs them (requests' own function, untyped).
    hooked = dispatch_hook("response", prepared.hooks, response)  # type: ignore[no-untyped-call]
    return t.cast("requests.Response", hooked)


def read_body(response: requests.Response, *, limit: int, where: str) -> bytes:
    """The decompressed body, refused beyond the size the tap accepts.

    Args:
        response: The answer, streamed.
        limit: The most bytes accepted, decompressed.
        where: What was asked for, for the message.

    Returns:
        The body.

    Raises:
        BadResponseError: If the body is larger than ``limit``.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            msg = (
                f"ReviewRover's answer for {where} is larger than "
                f"{limit / 1_048_576:g} MB once decompressed (the "
                "max_response_megabytes setting); the sync stopped rather than "
                "exhaust memory."
            )
            raise BadResponseError(msg)
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_redirect(
    response: requests.Response,
    *args: t.Any,  # noqa: ANN401, ARG001 - requests' hook arguments
    **kwargs: t.Any,  # noqa: ANN401, ARG001
) -> None:
    # As soon as it arrives: requests reads a redirect's Location even when it
    # does not follow it, and fails on a bad one (a bad port) with a bare
    # ValueError.
    if response.is_redirect:
        answer = Answer(
            response.status_code, response.reason, response.headers, b"", ""
        )
        try:
            judge(answer, now=dt.datetime.now(dt.timezone.utc), where="", params={})
        except BaseException:
            # Never returned to the requester, whose `with` would close it:
            # closed here, or its socket waits for the garbage collector.
            response.close()
            raise


def log_request_metric(
    response: requests.Response,
    *,
    stream_name: str,
    endpoint: str,
    context: Mapping[str, t.Any] | None,
) -> None:
    """Log the SDK's request-duration METRIC line for one request, at DEBUG.

    Args:
        response: The answer.
        stream_name: The stream.
        endpoint: The list's URL.
        context: The partition.
    """
    # One METRIC line per request only at DEBUG (the SDK logs it at INFO):
    # a sync of 200 pages would otherwise log 200 of them.
    logger = metrics.get_metrics_logger()
    if not logger.isEnabledFor(logging.DEBUG):
        return
    tags: dict[str, t.Any] = {
        metrics.Tag.STREAM: stream_name,
        metrics.Tag.ENDPOINT: endpoint,
        metrics.Tag.HTTP_STATUS_CODE: response.status_code,
    }
    if context:
        tags[metrics.Tag.CONTEXT] = dict(context)
    point = metrics.Point(
        "timer",
        metric=metrics.Metric.HTTP_REQUEST_DURATION,
        value=response.elapsed.total_seconds(),
        tags=tags,
    )
    metrics.log(logger, point)


def request_url(base: str, params: Mapping[str, t.Any]) -> str:
    """The URL ``requests`` would send for ``base`` and ``params``, made cheaply.

    ``PreparedRequest.prepare_url`` parses, checks and requotes the whole URL on
    every call (a twentieth of the tap's CPU, a page at a time); the base is the
    same for every page, so it is prepared once, and only the query is encoded
    per page, as ``requests`` encodes it (``None`` left out, lists repeated).

    Args:
        base: The URL without a query (``api_url`` is refused with one).
        params: The query parameters.

    Returns:
        The URL.
    """
    query = urlencode(
        [(key, value) for key, value in params.items() if value is not None],
        doseq=True,
    )
    prepared = _prepared_base(base)
    return f"{prepared}?{query}" if query else prepared


@functools.lru_cache(maxsize=64)
def _prepared_base(base: str) -> str:
    prepared = requests.PreparedRequest()
    prepared.prepare_url(base, None)
    return t.cast("str", prepared.url)
