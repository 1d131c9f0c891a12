"""How the sandbox sends what it decided: the HTTP server and response writing.

`SandboxHttpServer` serves each connection from a thread (over TLS when given
a context, see `tls.py`) and can close every open keep-alive connection when
the sandbox stops. `ResponseHandler` renders a `Response` (see `responses.py`)
on the wire: status line, headers (`Server`, the `Date` of the sandbox's date
clock, `Content-Type`, `Content-Length` but for 1xx, 204 and 304), then the
body: all at once, halved (truncate) or a byte at a time (drip). `api.py`
subclasses it with the API's routes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
from datetime import timedelta
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from reviewrover_sandbox.responses import Response, error_body, reason_phrase
from reviewrover_sandbox.serving import PromptlyStoppedServer

if TYPE_CHECKING:
    from reviewrover_sandbox.server import SandboxServer

IDLE_CONNECTION_TIMEOUT_SECONDS = 60


class SandboxHttpServer(PromptlyStoppedServer):
    """Threaded HTTP(S) server that can close its open keep-alive connections."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        sandbox: SandboxServer,
        handler: type[ResponseHandler],
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """Listen on `address`; `handler` answers each connection.

        Args:
            address: Host and port; port 0 picks a free one.
            sandbox: The sandbox whose settings and data the handlers read.
            handler: The request handler class.
            tls_context: Serve HTTPS with this server-side context; None: HTTP.
        """
        self.sandbox = sandbox
        self.tls_context = tls_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection; with TLS, wrap it (its thread shakes hands)."""
        connection, address = super().get_request()
        if self.tls_context is not None:
            connection = self.tls_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def process_request(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: object,
    ) -> None:
        """Track the connection, then serve it from a new thread."""
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(
        self, request: socket.socket | tuple[bytes, socket.socket]
    ) -> None:
        """Forget the connection and close it."""
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
        """Print a handler's error, unless the client just went away."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            # The client went away (e.g. it timed out) or refused the
            # certificate: not a server bug.
            return
        super().handle_error(request, client_address)


def _may_have_content(status: int) -> bool:
    """Whether a response may say `Content-Length` (never 1xx, 204 or 304)."""
    no_content = {HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED}
    return status >= HTTPStatus.OK and status not in no_content


class ResponseHandler(BaseHTTPRequestHandler):
    """Sends `Response`s on one connection; `ApiHandler` (api.py) decides them."""

    protocol_version = "HTTP/1.1"
    server_version = "ReviewRoverSandbox/0.1"
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    # Headers and body are separate writes: without this, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: SandboxHttpServer

    def setup(self) -> None:
        """Prepare the connection; over TLS, shake hands in this thread."""
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def version_string(self) -> str:
        """Return the `Server` header value."""
        return self.server_version

    def date_header(self, offset_seconds: float = 0.0) -> str:
        """Return a `Date` header value: the sandbox's date clock, plus an offset.

        Args:
            offset_seconds: Added to the date clock (a DATE fault's).
        """
        now = self.server.sandbox.date_clock.now() + timedelta(seconds=offset_seconds)
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
        if _may_have_content(response.status):
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
