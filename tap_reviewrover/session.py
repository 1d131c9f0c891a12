"""The HTTP session a sync uses, set up once, and what each request logs."""

from __future__ import annotations

import logging
import typing as t

from singer_sdk import metrics

from tap_reviewrover.deadline import DeadlineAdapter

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import requests


def settled(session: requests.Session, url: str) -> requests.Session:
    """The session, with the environment read once for the API's URL.

    ``requests`` would look up the proxy variables and ``~/.netrc`` on every
    request (a tenth of the tap's CPU), and a ``.netrc`` entry for the host would
    replace the bearer token: the proxies (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``)
    are settled now, as ``requests`` itself would settle them, and nothing more
    is read from the environment.

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
    return session


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
