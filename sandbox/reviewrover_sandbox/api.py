"""The API's routes, authentication and validation, over `transport.py`.

Routes (all under `/api`, bearer token required):

- `GET /api/v1/enrollments`: list, newest created first, paginated by page number
- `POST /api/v1/enrollments`: create (form-encoded or JSON body)
- `GET /api/v1/enrollments/{id}`: retrieve
- `DELETE /api/v1/enrollments/{id}`: delete
- `GET /api/v1/reviews`: a second list, newest submitted first, paged the same way

With `sandbox.gzip_responses` on, bodies are gzipped for clients whose
`Accept-Encoding` allows it (see `compression.py`).

A list request passes the rate limiter (`sandbox.rate_limit`), then the
`on_list_request` hooks and the fault plan (`sandbox.faults`), then
authentication and validation.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from reviewrover_sandbox.compression import accepts_gzip, gzip_body, gzip_bomb
from reviewrover_sandbox.kinds import FaultKind
from reviewrover_sandbox.plan import RETRIEVE_PATH
from reviewrover_sandbox.ratelimit import rate_limit_headers
from reviewrover_sandbox.responses import (
    ApiError,
    Response,
    json_bytes,
    list_body,
    replacing_response,
)
from reviewrover_sandbox.store import AlreadyEnrolled
from reviewrover_sandbox.transport import ResponseHandler

if TYPE_CHECKING:
    from reviewrover_sandbox.faults import Fault
    from reviewrover_sandbox.plan import ListName

LIST_PATH = "/api/v1/enrollments"
REVIEWS_PATH = "/api/v1/reviews"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered.

    Attributes:
        method: HTTP method.
        path: URL path, without the query string.
        query: Query parameters (the last value of a repeated one).
        status: Response status, or None when the connection was dropped.
        headers: Request headers, names spelt as the client sent them.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)


def _positive_int(value: str | None, default: int) -> int | None:
    """Parse a page-style parameter; None when it is not a positive integer."""
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        return None
    return int(value)


def _list_filters(query: dict[str, str]) -> dict[str, Any]:
    """Validate the list endpoint's filters; empty values mean no filter."""
    completed = query.get("completed") or None
    if completed not in {None, "true", "false"}:
        raise ApiError(HTTPStatus.BAD_REQUEST, "completed must be true or false")
    return {
        "campaign_id": query.get("campaign_id") or None,
        "contact_id": query.get("contact_id") or None,
        "completed": None if completed is None else completed == "true",
    }


def _negotiated(response: Response, accept_encoding: str) -> Response:
    """The response gzipped for a client that accepts it, unless already encoded."""
    encoded = any(name.lower() == "content-encoding" for name in response.headers)
    if encoded or not response.body or not accepts_gzip(accept_encoding):
        return response
    headers = {
        **response.headers,
        "Content-Encoding": "gzip",
        "Vary": "Accept-Encoding",
    }
    return dataclasses.replace(response, body=gzip_body(response.body), headers=headers)


class ApiHandler(ResponseHandler):
    """Answers one connection's requests; routing and validation live here."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Handle GET."""
        self._handle()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        """Handle POST."""
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802 - http.server's name
        """Handle DELETE."""
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        """Handle HEAD (always 405 or 404, without a body)."""
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802 - http.server's name
        """Handle PUT (always 405 or 404)."""
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802 - http.server's name
        """Handle PATCH (always 405 or 404)."""
        self._handle()

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = self._read_body()
            sandbox.wait(sandbox.faults.latency_seconds)
            response = self._route(url.path, query, body)
        except ApiError as error:
            response = error.response()
        if sandbox.gzip_responses:
            response = _negotiated(response, self.headers.get("Accept-Encoding", ""))
        status = None if response.drop else int(response.status)
        headers = dict(self.headers.items())
        sandbox.record(RequestRecord(self.command, url.path, query, status, headers))
        self._write(response)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        if not (length.isascii() and length.isdigit()):
            self.close_connection = True
            raise ApiError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length header")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large"
            )
        return self.rfile.read(int(length))

    def _route(self, path: str, query: dict[str, str], body: bytes) -> Response:
        method = self.command
        path = path.rstrip("/")
        if path == LIST_PATH:
            if method == "GET":
                return self._list("enrollments", query)
            if method == "POST":
                self._authenticate()
                return self._create(body)
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Method not allowed",
                {"Allow": "GET, POST"},
            )
        if path == REVIEWS_PATH:
            if method == "GET":
                return self._list("reviews", query)
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed", {"Allow": "GET"}
            )
        item = path.removeprefix(LIST_PATH + "/")
        if item != path and item.isascii() and item.isdigit():
            if method == "GET":
                return self._retrieve_behind_faults(int(item))
            if method == "DELETE":
                self._authenticate()
                return self._delete(int(item))
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Method not allowed",
                {"Allow": "GET, DELETE"},
            )
        raise ApiError(HTTPStatus.NOT_FOUND, f"No route for {method} {path}")

    def _authenticate(self) -> None:
        expected = f"Bearer {self.server.sandbox.token}".encode()
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "Invalid or missing API token",
                {"WWW-Authenticate": "Bearer"},
            )

    def _list(self, name: ListName, query: dict[str, str]) -> Response:
        """Answer a list request: the rate limiter first, then the list itself."""
        limiter = self.server.sandbox.rate_limit
        decision = limiter.take() if limiter is not None else None
        if decision is not None and not decision.allowed:
            response = ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                "Rate limit exceeded; retry later",
                {"Retry-After": str(decision.retry_after_seconds)},
            ).response()
        else:
            try:
                response = self._list_behind_limiter(name, query)
            except ApiError as error:
                response = error.response()
        if limiter is not None and decision is not None:
            # A fault's own rate-limit headers win over the bucket's.
            bucket = limiter.response_headers(decision)
            response.headers = {**bucket, **response.headers}
        return response

    def _list_behind_limiter(self, name: ListName, query: dict[str, str]) -> Response:
        sandbox = self.server.sandbox
        request_number = sandbox.count_list_request()
        page = _positive_int(query.get("page"), 1)
        fault = None
        # Hooks and faults act before authentication, as a proxy in front of the
        # API would. A malformed page skips both.
        if page is not None:
            sandbox.notify_list_request(page, request_number, path=name, query=query)
            fault = sandbox.faults.take(page, name)
        if fault is None:
            return self._list_page(name, query, page, None)
        if fault.replaces_response:
            return replacing_response(
                fault,
                method=self.command,
                target=self.path,
                authorization=self.headers.get("Authorization", ""),
            )
        if fault.kind is FaultKind.SLOW:
            sandbox.wait(fault.seconds)
        try:
            response = self._list_page(name, query, page, fault)
        except ApiError as error:
            response = error.response()
        if fault.kind is FaultKind.DATE:
            response.date_offset_seconds = fault.seconds
        if (
            fault.kind is FaultKind.RATE_LIMIT_HEADERS
            and response.status == HTTPStatus.OK
        ):
            response.headers.update(
                rate_limit_headers(
                    remaining=fault.remaining,
                    reset_seconds=fault.seconds,
                    now=sandbox.date_clock.now(),
                    x_reset=fault.reset_form,
                    spellings=fault.spellings,
                )
            )
        return response

    def _list_page(
        self,
        name: ListName,
        query: dict[str, str],
        page: int | None,
        fault: Fault | None,
    ) -> Response:
        """Answer an authenticated, valid list request; `fault` may alter it."""
        self._authenticate()
        limit = _positive_int(query.get("limit"), DEFAULT_LIMIT)
        if limit is None or limit > MAX_LIMIT:
            message = f"limit must be an integer between 1 and {MAX_LIMIT}"
            raise ApiError(HTTPStatus.BAD_REQUEST, message)
        if page is None:
            raise ApiError(HTTPStatus.BAD_REQUEST, "page must be a positive integer")
        filters = self._enrollment_filters(query) if name == "enrollments" else {}
        served_page = page
        if fault is not None and fault.kind is FaultKind.SERVE_PAGE:
            served_page = fault.page_number
        items, pagination = self._listing(name, page, served_page, limit, filters)
        if fault is None:
            return Response(HTTPStatus.OK, list_body(name, items, pagination))
        items, pagination = fault.alter_listing(items, pagination)
        body = list_body(name, items, pagination)
        if fault.kind is FaultKind.GZIP_BOMB:
            bomb = gzip_bomb(body, max(fault.expanded_bytes, len(body)))
            return Response(HTTPStatus.OK, bomb, headers={"Content-Encoding": "gzip"})
        dripping = fault.kind is FaultKind.DRIP
        return Response(
            HTTPStatus.OK,
            body,
            truncate=fault.kind is FaultKind.TRUNCATE,
            drip_interval=fault.seconds if dripping else None,
            drip_head=dripping and fault.headers_too,
        )

    def _enrollment_filters(self, query: dict[str, str]) -> dict[str, Any]:
        """The list's filters, after the campaign checks (or the lie)."""
        sandbox = self.server.sandbox
        filters = _list_filters(query)
        if sandbox.faults.ignore_campaign_filter:
            filters["campaign_id"] = None
        elif filters["campaign_id"] in sandbox.store.deleted_campaign_ids:
            raise ApiError(HTTPStatus.NOT_FOUND, "Campaign not found")
        return filters

    def _listing(
        self,
        name: ListName,
        page: int,
        served_page: int,
        limit: int,
        filters: dict[str, Any],
    ) -> tuple[bytes, dict[str, Any]]:
        """The records of `served_page` and the pagination of `page`.

        The page-size cap (`faults.limit_cap`) decides which records a page
        holds and which limit the pagination reports.
        """
        sandbox = self.server.sandbox
        served = sandbox.faults.window(served_page, limit)
        result = sandbox.list_store(name).window(
            offset=served.offset,
            size=served.size,
            filters=filters,
            tie_order=sandbox.faults.tie_order(),
        )
        pagination = {
            "page": page,
            "limit": served.reported_limit,
            "total": result.total,
            "total_pages": -(-result.total // served.reported_limit),
        }
        return result.items_json, pagination

    def _create(self, body: bytes) -> Response:
        if self.headers.get_content_type() == "application/json":
            try:
                fields = json.loads(body or b"{}")
            except ValueError as error:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, "Body is not valid JSON"
                ) from error
            if not isinstance(fields, dict):
                raise ApiError(HTTPStatus.BAD_REQUEST, "Body must be a JSON object")
        else:  # curl -d sends application/x-www-form-urlencoded
            fields = dict(
                parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
            )
        for name in ("campaign_id", "contact_id"):
            if not isinstance(fields.get(name), str) or not fields[name]:
                raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} is required")
        try:
            record = self.server.sandbox.store.create(
                fields["campaign_id"], fields["contact_id"]
            )
        except AlreadyEnrolled as error:
            raise ApiError(HTTPStatus.CONFLICT, str(error)) from error
        return Response(HTTPStatus.CREATED, json_bytes(record))

    def _retrieve_behind_faults(self, enrollment_id: int) -> Response:
        """Answer `GET /v1/enrollments/{id}`; a fault queued for it acts first."""
        sandbox = self.server.sandbox
        sandbox.notify_list_request(enrollment_id, 0, path=RETRIEVE_PATH)
        fault = sandbox.faults.take(enrollment_id, RETRIEVE_PATH)
        if fault is not None and fault.replaces_response:
            return replacing_response(
                fault,
                method=self.command,
                target=self.path,
                authorization=self.headers.get("Authorization", ""),
            )
        if fault is not None and fault.kind is FaultKind.SLOW:
            sandbox.wait(fault.seconds)
        self._authenticate()
        response = self._retrieve(enrollment_id)
        if fault is not None and fault.kind is FaultKind.DATE:
            response.date_offset_seconds = fault.seconds
        return response

    def _retrieve(self, enrollment_id: int) -> Response:
        body = self.server.sandbox.store.get_json(enrollment_id)
        if body is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND, f"Enrollment {enrollment_id} not found"
            )
        return Response(HTTPStatus.OK, body)

    def _delete(self, enrollment_id: int) -> Response:
        try:
            self.server.sandbox.store.delete(enrollment_id)
        except KeyError as error:
            message = f"Enrollment {enrollment_id} not found"
            raise ApiError(HTTPStatus.NOT_FOUND, message) from error
        return Response(
            HTTPStatus.OK, json_bytes({"id": enrollment_id, "deleted": True})
        )
