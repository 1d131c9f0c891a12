"""A local HTTP server implementing the documented ReviewRover Enrollments API.

Routes (all under `/api`, bearer token required):

- `GET /api/v1/enrollments`: list, newest created first, paginated by page number
- `POST /api/v1/enrollments`: create (form-encoded or JSON body)
- `GET /api/v1/enrollments/{id}`: retrieve
- `DELETE /api/v1/enrollments/{id}`: delete

Tests script misbehaviour of the list endpoint with `server.faults` and change
data mid-sync from `server.on_list_request` callbacks.
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
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from reviewrover_sandbox.faults import Fault, FaultKind, FaultPlan
from reviewrover_sandbox.store import AlreadyEnrolled, EnrollmentStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from typing_extensions import Self

    from reviewrover_sandbox.store import Clock

    ListRequestCallback = Callable[[int, int], object]

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the public token of a local sandbox
LIST_PATH = "/api/v1/enrollments"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_BODY_BYTES = 1_000_000
IDLE_CONNECTION_TIMEOUT_SECONDS = 60

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


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without sending anything."""
    truncate: bool = False
    """Send only the first half of the body, then close."""


class _ApiError(Exception):
    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


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
    return _json({"error": {"type": error_type, "message": message}})


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


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
        raise _ApiError(HTTPStatus.BAD_REQUEST, "completed must be true or false")
    return {
        "campaign_id": query.get("campaign_id") or None,
        "contact_id": query.get("contact_id") or None,
        "completed": None if completed is None else completed == "true",
    }


def _fault_response(fault: Fault) -> _Response:
    """Build the response that replaces the normal one.

    For STATUS, HTML, DROP and NOT_JSON faults; SLOW and TRUNCATE alter the
    normal response instead.
    """
    if fault.kind is FaultKind.STATUS:
        phrase = HTTPStatus(fault.code).phrase
        body = (
            _json(fault.body)
            if fault.body is not None
            else error_body(fault.code, phrase)
        )
        return _Response(fault.code, body, headers=dict(fault.headers))
    if fault.kind is FaultKind.HTML:
        title = f"{fault.code} {HTTPStatus(fault.code).phrase}"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return _Response(fault.code, page.encode(), "text/html")
    if fault.kind is FaultKind.DROP:
        return _Response(HTTPStatus.OK, drop=True)
    if fault.kind is FaultKind.NOT_JSON:
        return _Response(HTTPStatus.OK, b"Service temporarily unavailable.\n")
    msg = f"{fault.kind} alters the normal response instead of replacing it"
    raise ValueError(msg)


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

    def date_time_string(self, timestamp: float | None = None) -> str:  # noqa: ARG002 - the API clock decides
        """Return the `Date` header value from the API clock (offset included)."""
        return format_datetime(self.server.sandbox.clock.now(), usegmt=True)

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
        self._write(_Response(code, body, headers={"Connection": "close"}))

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = self._read_body()
            sandbox.wait(sandbox.faults.latency_seconds)
            response = self._route(url.path, query, body)
        except _ApiError as error:
            response = _Response(
                error.status,
                error_body(error.status, error.message),
                headers=error.headers,
            )
        status = None if response.drop else int(response.status)
        headers = dict(self.headers.items())
        sandbox.record(RequestRecord(self.command, url.path, query, status, headers))
        self._write(response)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        if not (length.isascii() and length.isdigit()):
            self.close_connection = True
            raise _ApiError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length header")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            raise _ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large"
            )
        return self.rfile.read(int(length))

    def _route(self, path: str, query: dict[str, str], body: bytes) -> _Response:
        method = self.command
        path = path.rstrip("/")
        if path == LIST_PATH:
            if method == "GET":
                return self._list(query)
            if method == "POST":
                self._authenticate()
                return self._create(body)
            raise _ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Method not allowed",
                {"Allow": "GET, POST"},
            )
        item = path.removeprefix(LIST_PATH + "/")
        if item != path and item.isascii() and item.isdigit():
            if method == "GET":
                self._authenticate()
                return self._retrieve(int(item))
            if method == "DELETE":
                self._authenticate()
                return self._delete(int(item))
            raise _ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Method not allowed",
                {"Allow": "GET, DELETE"},
            )
        raise _ApiError(HTTPStatus.NOT_FOUND, f"No route for {method} {path}")

    def _authenticate(self) -> None:
        expected = f"Bearer {self.server.sandbox.token}".encode()
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise _ApiError(
                HTTPStatus.UNAUTHORIZED,
                "Invalid or missing API token",
                {"WWW-Authenticate": "Bearer"},
            )

    def _list(self, query: dict[str, str]) -> _Response:
        sandbox = self.server.sandbox
        request_number = sandbox.count_list_request()
        page = _positive_int(query.get("page"), 1)
        fault = None
        # Hooks and faults act before authentication, as a proxy or a rate
        # limiter in front of the API would. A malformed page skips both.
        if page is not None:
            sandbox.notify_list_request(page, request_number)
            fault = sandbox.faults.take(page)
        if fault is not None and fault.kind is FaultKind.SLOW:
            sandbox.wait(fault.seconds)
        elif fault is not None and fault.kind is not FaultKind.TRUNCATE:
            return _fault_response(fault)
        self._authenticate()
        limit = _positive_int(query.get("limit"), DEFAULT_LIMIT)
        if limit is None or limit > MAX_LIMIT:
            message = f"limit must be an integer between 1 and {MAX_LIMIT}"
            raise _ApiError(HTTPStatus.BAD_REQUEST, message)
        if page is None:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "page must be a positive integer")
        result = sandbox.store.page(page=page, limit=limit, **_list_filters(query))
        pagination = {
            "page": page,
            "limit": limit,
            "total": result.total,
            "total_pages": -(-result.total // limit),
        }
        body = (
            b'{"enrollments":'
            + result.items_json
            + b',"pagination":'
            + _json(pagination)
            + b"}"
        )
        truncate = fault is not None and fault.kind is FaultKind.TRUNCATE
        return _Response(HTTPStatus.OK, body, truncate=truncate)

    def _create(self, body: bytes) -> _Response:
        if self.headers.get_content_type() == "application/json":
            try:
                fields = json.loads(body or b"{}")
            except ValueError as error:
                raise _ApiError(
                    HTTPStatus.BAD_REQUEST, "Body is not valid JSON"
                ) from error
            if not isinstance(fields, dict):
                raise _ApiError(HTTPStatus.BAD_REQUEST, "Body must be a JSON object")
        else:  # curl -d sends application/x-www-form-urlencoded
            fields = dict(
                parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
            )
        for name in ("campaign_id", "contact_id"):
            if not isinstance(fields.get(name), str) or not fields[name]:
                raise _ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} is required")
        try:
            record = self.server.sandbox.store.create(
                fields["campaign_id"], fields["contact_id"]
            )
        except AlreadyEnrolled as error:
            raise _ApiError(HTTPStatus.CONFLICT, str(error)) from error
        return _Response(HTTPStatus.CREATED, _json(record))

    def _retrieve(self, enrollment_id: int) -> _Response:
        body = self.server.sandbox.store.get_json(enrollment_id)
        if body is None:
            raise _ApiError(
                HTTPStatus.NOT_FOUND, f"Enrollment {enrollment_id} not found"
            )
        return _Response(HTTPStatus.OK, body)

    def _delete(self, enrollment_id: int) -> _Response:
        try:
            self.server.sandbox.store.delete(enrollment_id)
        except KeyError as error:
            message = f"Enrollment {enrollment_id} not found"
            raise _ApiError(HTTPStatus.NOT_FOUND, message) from error
        return _Response(HTTPStatus.OK, _json({"id": enrollment_id, "deleted": True}))

    def _write(self, response: _Response) -> None:
        if response.drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.truncate:
            self.close_connection = True
            self.wfile.write(response.body[: len(response.body) // 2])
        else:
            self.wfile.write(response.body)


class SandboxServer:
    """The sandbox API on a local port, served from a background thread.

    Use it as a context manager, or call `start()` and `stop()`::

        with SandboxServer(EnrollmentStore.seeded(1000)) as sandbox:
            config = {"api_url": sandbox.url, "auth_token": sandbox.token}

    Attributes:
        store: The data served.
        faults: Scripted misbehaviour of the list endpoint.
        token: The bearer token clients must send.
        verbose: Log each request to stderr.
        hook_errors: Exceptions raised by `on_list_request` callbacks (those
            requests were answered with status 500).
    """

    def __init__(
        self,
        store: EnrollmentStore | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        """Configure the server; nothing listens until `start()`.

        Args:
            store: The data to serve; an empty store by default.
            token: The bearer token clients must send.
            host: Interface to listen on.
            port: Port to listen on; 0 picks a free one.
            verbose: Log each request to stderr.
        """
        self.store = store if store is not None else EnrollmentStore()
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
        self._list_callbacks: list[ListRequestCallback] = []

    @property
    def clock(self) -> Clock:
        """The API clock (the store's): set `clock.offset_seconds` to skew it."""
        return self.store.clock

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
        """How many list requests arrived so far."""
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

    def on_list_request(self, callback: ListRequestCallback) -> ListRequestCallback:
        """Call `callback(page, request_number)` before each list response is built.

        `request_number` counts list requests from 1. Callbacks run in the
        request's thread with no sandbox lock held, so they may change the
        store. They run before faults and authentication, for every list
        request whose `page` parameter is valid. Usable as a decorator.

        Args:
            callback: The function to call.

        Returns:
            The callback.
        """
        with self._lock:
            self._list_callbacks.append(callback)
        return callback

    def wait(self, seconds: float) -> None:
        """Sleep in a handler thread, waking early when the server stops.

        Args:
            seconds: How long; nothing happens for 0 or less.
        """
        if seconds > 0:
            self._stopping.wait(seconds)

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

    def notify_list_request(self, page: int, request_number: int) -> None:
        """Run the `on_list_request` callbacks (called by the handler).

        Args:
            page: The requested page.
            request_number: The list request's number, from 1.

        Raises:
            _ApiError: A callback failed; the request gets status 500.
        """
        with self._lock:
            callbacks = list(self._list_callbacks)
        try:
            for callback in callbacks:
                callback(page, request_number)
        except Exception as error:  # a test's hook failed: report it, keep serving
            traceback.print_exc()
            with self._lock:
                self.hook_errors.append(error)
            message = f"on_list_request callback failed: {error!r}"
            raise _ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, message) from error
