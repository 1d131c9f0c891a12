"""A local HTTP server implementing the documented ReviewRover Enrollments API.

Routes (all under `/api`, bearer token required):

- `GET /api/v1/enrollments`: list, newest created first, paginated by page number
- `POST /api/v1/enrollments`: create (form-encoded or JSON body)
- `GET /api/v1/enrollments/{id}`: retrieve
- `DELETE /api/v1/enrollments/{id}`: delete
- `GET /api/v1/reviews`: a second list, newest submitted first, paged the same way

Tests script misbehaviour of the lists with `server.faults`, limit their rate
with `server.rate_limit` and change data mid-sync from `server.on_list_request`
callbacks.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from reviewrover_sandbox.faults import LIST_NAMES, Fault, FaultKind, FaultPlan
from reviewrover_sandbox.responses import (
    ApiError,
    Response,
    error_body,
    json_bytes,
    list_body,
    reason_phrase,
    replacing_response,
)
from reviewrover_sandbox.reviews import ReviewStore
from reviewrover_sandbox.store import AlreadyEnrolled, EnrollmentStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from typing_extensions import Self

    from reviewrover_sandbox.faults import ListName
    from reviewrover_sandbox.ratelimit import TokenBucket
    from reviewrover_sandbox.records import Clock, RecordStore

    ListRequestCallback = Callable[[int, int], object]

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the public token of a local sandbox
LIST_PATH = "/api/v1/enrollments"
REVIEWS_PATH = "/api/v1/reviews"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
DEFAULT_REVIEW_COUNT = 60
MAX_BODY_BYTES = 1_000_000
IDLE_CONNECTION_TIMEOUT_SECONDS = 60


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


class _HttpServer(ThreadingHTTPServer):
    """Threaded HTTP server that can close its open keep-alive connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: object,
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(
        self, request: socket.socket | tuple[bytes, socket.socket]
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def disconnect_clients(self) -> None:
        """Wake handler threads waiting on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed by its handler meanwhile
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: object,
    ) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away (e.g. it timed out): not a server bug
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests; routing and validation live here."""

    protocol_version = "HTTP/1.1"
    server_version = "ReviewRoverSandbox/0.1"
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    # Headers and body are separate writes: without this, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle()

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._handle()

    def do_HEAD(self) -> None:
        """Handle HEAD (always 405 or 404, without a body)."""
        self._handle()

    def do_PUT(self) -> None:
        """Handle PUT (always 405 or 404)."""
        self._handle()

    def do_PATCH(self) -> None:
        """Handle PATCH (always 405 or 404)."""
        self._handle()

    def version_string(self) -> str:
        """Return the `Server` header value."""
        return self.server_version

    def date_header(self, offset_seconds: float = 0.0) -> str:
        """Return a `Date` header value: the API clock, plus an offset.

        Args:
            offset_seconds: Added to the API clock (a DATE fault's).
        """
        now = self.server.sandbox.clock.now() + timedelta(seconds=offset_seconds)
        return format_datetime(now, usegmt=True)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class's name
        """Log a request to stderr only when the server is verbose."""
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Answer protocol-level errors (bad request line, 501...) in JSON."""
        del explain
        self.close_connection = True
        body = error_body(code, message or HTTPStatus(code).phrase)
        self._write(Response(code, body, headers={"Connection": "close"}))

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
                self._authenticate()
                return self._retrieve(int(item))
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
            response.headers.update(limiter.response_headers(decision))
        return response

    def _list_behind_limiter(self, name: ListName, query: dict[str, str]) -> Response:
        sandbox = self.server.sandbox
        request_number = sandbox.count_list_request()
        page = _positive_int(query.get("page"), 1)
        fault = None
        # Hooks and faults act before authentication, as a proxy in front of the
        # API would. A malformed page skips both.
        if page is not None:
            sandbox.notify_list_request(page, request_number, path=name)
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
        filters = _list_filters(query) if name == "enrollments" else {}
        served_page = page
        if fault is not None and fault.kind is FaultKind.SERVE_PAGE:
            served_page = fault.page_number
        items, pagination = self._listing(name, page, served_page, limit, filters)
        if fault is None:
            return Response(HTTPStatus.OK, list_body(name, items, pagination))
        items, pagination = fault.alter_listing(items, pagination)
        dripping = fault.kind is FaultKind.DRIP
        return Response(
            HTTPStatus.OK,
            list_body(name, items, pagination),
            truncate=fault.kind is FaultKind.TRUNCATE,
            drip_interval=fault.seconds if dripping else None,
            drip_head=dripping and fault.headers_too,
        )

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
            offset=served.offset, size=served.size, filters=filters
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

    def _write(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            return
        head = self._head(response)
        body = b"" if self.command == "HEAD" else response.body
        if response.drip_interval is not None:
            self._drip(head, body, response.drip_interval, head_too=response.drip_head)
            return
        self.wfile.write(head)
        if response.truncate:
            self.close_connection = True
            body = body[: len(body) // 2]
        self.wfile.write(body)

    def _head(self, response: Response) -> bytes:
        """Log the request and render the status line and headers."""
        self.log_request(response.status)
        headers = [
            ("Server", self.version_string()),
            ("Date", self.date_header(response.date_offset_seconds)),
        ]
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        headers.append(("Content-Length", str(len(response.body))))
        headers += response.headers.items()
        if any(
            name.lower() == "connection" and value.lower() == "close"
            for name, value in headers
        ):
            self.close_connection = True
        status = response.status
        lines = [f"{self.protocol_version} {status} {reason_phrase(status)}"]
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")

    def _drip(
        self, head: bytes, body: bytes, interval: float, *, head_too: bool
    ) -> None:
        """Send one byte, pause `interval`, and so on; stop when the server stops.

        A client that hangs up makes a write fail with a ConnectionError, which
        the server ignores (see `_HttpServer.handle_error`).
        """
        if head_too:
            body = head + body
        else:
            self.wfile.write(head)
        sandbox = self.server.sandbox
        for index in range(len(body)):
            if index and not sandbox.wait(interval):
                self.close_connection = True
                return
            self.wfile.write(body[index : index + 1])


class SandboxServer:
    """The sandbox API on a local port, served from a background thread.

    Use it as a context manager, or call `start()` and `stop()`::

        with SandboxServer(EnrollmentStore.seeded(1000)) as sandbox:
            config = {"api_url": sandbox.url, "auth_token": sandbox.token}

    Attributes:
        store: The enrollments served.
        reviews: The reviews served.
        faults: Scripted misbehaviour of the lists.
        rate_limit: A token bucket every list request takes a token from; a
            request that finds none gets 429. None (the default): no limit.
        token: The bearer token clients must send.
        verbose: Log each request to stderr.
        hook_errors: Exceptions raised by `on_list_request` callbacks (those
            requests were answered with status 500).
    """

    def __init__(  # noqa: PLR0913 - one argument per setting
        self,
        store: EnrollmentStore | None = None,
        *,
        reviews: ReviewStore | None = None,
        rate_limit: TokenBucket | None = None,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        """Configure the server; nothing listens until `start()`.

        Args:
            store: The enrollments to serve; an empty store by default.
            reviews: The reviews to serve; by default `DEFAULT_REVIEW_COUNT`
                seeded reviews on the enrollment store's clock.
            rate_limit: A token bucket for the lists; None for no limit.
            token: The bearer token clients must send.
            host: Interface to listen on.
            port: Port to listen on; 0 picks a free one.
            verbose: Log each request to stderr.
        """
        self.store = store if store is not None else EnrollmentStore()
        self.reviews = (
            reviews
            if reviews is not None
            else ReviewStore.seeded(DEFAULT_REVIEW_COUNT, clock=self.store.clock)
        )
        self.rate_limit = rate_limit
        self.faults = FaultPlan()
        self.token = token
        self.verbose = verbose
        self.hook_errors: list[BaseException] = []
        self._host = host
        self._port = port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._list_request_count = 0
        self._list_callbacks: list[tuple[ListName, ListRequestCallback]] = []

    @property
    def clock(self) -> Clock:
        """The API clock (the store's): set `clock.offset_seconds` to skew it."""
        return self.store.clock

    def list_store(self, name: ListName) -> RecordStore:
        """Return the store behind a list.

        Args:
            name: "enrollments" or "reviews".
        """
        return self.reviews if name == "reviews" else self.store

    @property
    def port(self) -> int:
        """The port listened on (known once started)."""
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the tap as `api_url`, e.g. `http://127.0.0.1:8123/api`."""
        return f"http://{self._host}:{self.port}/api"

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def list_request_count(self) -> int:
        """How many list requests (of any list) got past the rate limiter so far."""
        with self._lock:
            return self._list_request_count

    def start(self) -> Self:
        """Listen and serve in a background daemon thread.

        Returns:
            This server.

        Raises:
            RuntimeError: The server is already running.
        """
        if self._httpd is not None:
            msg = "The sandbox server is already running"
            raise RuntimeError(msg)
        self._stopping.clear()
        self._httpd = _HttpServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"reviewrover-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and wait for handler threads."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # cut short slow faults and latency
        httpd.shutdown()
        httpd.disconnect_clients()
        httpd.server_close()
        thread.join()
        self._port = int(httpd.server_address[1])
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        exc_traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def on_list_request(
        self, callback: ListRequestCallback, *, path: ListName = "enrollments"
    ) -> ListRequestCallback:
        """Call `callback(page, request_number)` before each response of a list.

        `request_number` counts list requests (of any list) from 1. Callbacks
        run in the request's thread with no sandbox lock held, so they may
        change the stores. They run before faults and authentication, for
        every request of their list whose `page` parameter is valid and that
        the rate limiter let through. Usable as a decorator (for enrollments).

        Args:
            callback: The function to call.
            path: The list whose requests it hears: "enrollments" (the
                default) or "reviews".

        Returns:
            The callback.

        Raises:
            ValueError: `path` is not a list.
        """
        if path not in LIST_NAMES:
            msg = f"path must be one of {LIST_NAMES}"
            raise ValueError(msg)
        with self._lock:
            self._list_callbacks.append((path, callback))
        return callback

    def wait(self, seconds: float) -> bool:
        """Sleep in a handler thread, waking early when the server stops.

        Args:
            seconds: How long; no sleep for 0 or less.

        Returns:
            False when the server is stopping (cut short, or already), else True.
        """
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    def record(self, request: RequestRecord) -> None:
        """Append an answered request to `requests` (called by the handler).

        Args:
            request: What was asked and answered.
        """
        with self._lock:
            self._requests.append(request)

    def count_list_request(self) -> int:
        """Count a new list request (called by the handler).

        Returns:
            Its number, from 1.
        """
        with self._lock:
            self._list_request_count += 1
            return self._list_request_count

    def notify_list_request(
        self, page: int, request_number: int, *, path: ListName = "enrollments"
    ) -> None:
        """Run the `on_list_request` callbacks of a list (called by the handler).

        Args:
            page: The requested page.
            request_number: The list request's number, from 1.
            path: The list requested.

        Raises:
            ApiError: A callback failed; the request gets status 500.
        """
        with self._lock:
            callbacks = [hook for name, hook in self._list_callbacks if name == path]
        try:
            for callback in callbacks:
                callback(page, request_number)
        except Exception as error:  # a test's hook failed: report it, keep serving
            traceback.print_exc()
            with self._lock:
                self.hook_errors.append(error)
            message = f"on_list_request callback failed: {error!r}"
            raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, message) from error
