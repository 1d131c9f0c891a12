"""What the requester and the walks pass between them: page keys and answers."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from functools import partial

from singer_sdk.streams.rest import PageContext

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

    import requests
    from singer_sdk.streams import RESTStream

    from tap_reviewrover.records import Pagination
    from tap_reviewrover.repairs import Repair

#: A page to read: its number and the page size asked for.
PageKey = tuple[int, int]


@dataclass(frozen=True)
class FetchedPage:
    """One page as the API answered it, decoded and checked against the schema.

    Attributes:
        number: The page asked for.
        limit: The page size asked for.
        records: The records (typed), in API order.
        pagination: The ``pagination`` object.
        unknown_fields: Fields beyond the schema first seen on this page.
        api_clock: The response's ``Date``, if it had one.
        received_at: This host's clock when the answer arrived.
        seconds: How long the answer took, from the request to its last byte.
        repairs: Text replaced in its records (see ``records.PageDecoder``).
    """

    number: int
    limit: int
    records: list[t.Any]
    pagination: Pagination
    unknown_fields: set[str]
    api_clock: dt.datetime | None
    received_at: dt.datetime
    seconds: float = 0.0
    repairs: list[Repair] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    """The settings the requester follows.

    Attributes:
        timeout: Seconds a whole answer may take.
        max_retries: Retries of a failed request before the sync stops.
        max_response_bytes: The largest decompressed body accepted.
        max_rate: Requests a second never exceeded, if set.
    """

    timeout: float
    max_retries: int
    max_response_bytes: int
    max_rate: float | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> Settings:
        """The requester's settings from the tap's.

        Args:
            config: The tap's settings.

        Returns:
            The settings.
        """
        return cls(
            timeout=float(config["request_timeout"]),
            max_retries=int(config["max_retries"]),
            max_response_bytes=int(config["max_response_megabytes"] * 2**20),
            max_rate=config.get("max_requests_per_second"),
        )


@dataclass(frozen=True)
class PartitionRequests:
    """How the pages of one partition are asked for.

    Attributes:
        template: The prepared request (method, headers, auth) each page copies.
        url: The list's URL.
        params: The page's query parameters, from its key (a pure function).
        context: The partition, for the request metric.
        filters: More filters for the API (a walk strategy's own).
    """

    template: requests.PreparedRequest
    url: str
    params: Callable[[PageKey], Mapping[str, t.Any]]
    context: Mapping[str, t.Any] | None = None
    filters: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, stream: RESTStream[t.Any], context: Mapping[str, t.Any] | None
    ) -> PartitionRequests:
        """How a stream asks for a partition's pages, from its SDK hooks.

        Args:
            stream: The stream (its requester built: the template takes the
                session's hooks).
            context: The partition.

        Returns:
            The requests.
        """
        request = stream.get_http_request(page=PageContext(context, None))
        return cls(
            template=stream.build_prepared_request(
                method=request.method, url=request.url, headers=request.headers
            ),
            url=request.url,
            params=t.cast(
                "Callable[[PageKey], Mapping[str, t.Any]]",
                partial(stream.get_url_params, context),
            ),
            context=context,
        )

    def query(self, key: PageKey) -> dict[str, t.Any]:
        """The query parameters of one page.

        Args:
            key: The page: its number and size.

        Returns:
            The partition's filters, the walk's, the page and its size.
        """
        return {**self.params(key), **self.filters}
