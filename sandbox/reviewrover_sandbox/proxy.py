"""A small forwarding HTTP proxy, for tests of `HTTPS_PROXY` and `HTTP_PROXY`.

    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        ...  # run the tap against an HTTPS sandbox
        assert proxy.requests[0].method == "CONNECT"

It tunnels `CONNECT host:port` (HTTPS through the proxy) and forwards plain
HTTP requests sent in absolute form (`GET http://host:port/path`), and records
each request, so a test can tell whether a client went through it. It only
reaches loopback hosts (127.0.0.1, localhost, ::1): anything else gets 403.

Written here rather than taken from PyPI: proxy.py, the maintained pure-Python
proxy, serves from worker processes (a test could not count what went through
without inter-process plumbing) and sets up logging of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import selectors
import socket
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reviewrover_sandbox.serving import PromptlyStoppedServer

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Headers of one connection (RFC 9110 7.6.1), not passed on.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_UPSTREAM_TIMEOUT_SECONDS = 30
_RELAY_CHUNK_BYTES = 65_536
_NO_BODY_STATUSES = frozenset({HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED})


@dataclass(frozen=True)
class ProxiedRequest:
    """One request a client sent through the proxy.

    Attributes:
        method: `CONNECT` for a tunnel, else the HTTP method.
        target: `host:port` for a tunnel, else the absolute URL.
    """

    method: str
    target: str


class _ProxyHttpServer(PromptlyStoppedServer):
    """Serves each client connection from a thread; closes them all on stop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], proxy: ForwardProxy) -> None:
        self.proxy = proxy
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(address, _ProxyHandler)

    def track(self, connection: socket.socket) -> None:
        with self._sockets_lock:
            self._sockets.add(connection)

    def forget(self, connection: socket.socket) -> None:
        with self._sockets_lock:
            self._sockets.discard(connection)

    def process_request(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: object,
    ) -> None:
        if isinstance(request, socket.socket):
            self.track(request)
        super().process_request(request, client_address)

    def shutdown_request(
        self, request: socket.socket | tuple[bytes, socket.socket]
    ) -> None:
        if isinstance(request, socket.socket):
            self.forget(request)
        super().shutdown_request(request)

    def disconnect_all(self) -> None:
        with self._sockets_lock:
            connections = list(self._sockets)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: object,
    ) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client or upstream went away: not a proxy bug
        super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxProxy/0.1"
    timeout = 60
    server: _ProxyHttpServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class's name
        """Log nothing: the proxy's record is `ForwardProxy.requests`."""

    def do_CONNECT(self) -> None:
        """Open a tunnel to `host:port` and relay bytes both ways until one closes."""
        self.server.proxy.record(ProxiedRequest("CONNECT", self.path))
        self.close_connection = True
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")  # an IPv6 address comes in brackets
        if not (port.isascii() and port.isdigit()):
            self._refuse(HTTPStatus.BAD_REQUEST)
            return
        if not self._allowed(host):
            return
        try:
            upstream = socket.create_connection(
                (host, int(port)), timeout=_UPSTREAM_TIMEOUT_SECONDS
            )
        except OSError:
            self._refuse(HTTPStatus.BAD_GATEWAY)
            return
        self.server.track(upstream)
        try:
            self.send_response_only(HTTPStatus.OK, "Connection established")
            self.end_headers()
            _relay(self.connection, upstream)
        finally:
            self.server.forget(upstream)
            upstream.close()

    def do_GET(self) -> None:
        """Forward a GET."""
        self._forward()

    def do_HEAD(self) -> None:
        """Forward a HEAD."""
        self._forward()

    def do_POST(self) -> None:
        """Forward a POST."""
        self._forward()

    def do_DELETE(self) -> None:
        """Forward a DELETE."""
        self._forward()

    def _forward(self) -> None:
        """Send the request on to the origin server and its answer back."""
        self.server.proxy.record(ProxiedRequest(self.command, self.path))
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self.close_connection = True
            self._refuse(HTTPStatus.BAD_REQUEST)
            return
        if not self._allowed(url.hostname):
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP
        }
        target = url.path + (f"?{url.query}" if url.query else "")
        origin = http.client.HTTPConnection(
            url.hostname, url.port or 80, timeout=_UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            origin.request(self.command, target, body=body or None, headers=headers)
            answer = origin.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException):
            self.close_connection = True
            self._refuse(HTTPStatus.BAD_GATEWAY)
            return
        finally:
            origin.close()
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            keep_length = self.command == "HEAD"  # the length HEAD would have had
            if name.lower() not in _HOP_BY_HOP and (
                name.lower() != "content-length" or keep_length
            ):
                self.send_header(name, value)
        if self.command != "HEAD" and answer.status not in _NO_BODY_STATUSES:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _allowed(self, host: str) -> bool:
        """Whether the proxy may reach `host`; answers 403 when not."""
        if host.lower() in LOOPBACK_HOSTS:
            return True
        self.close_connection = True
        self._refuse(HTTPStatus.FORBIDDEN)
        return False

    def _refuse(self, status: HTTPStatus) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes between two sockets until either side closes or fails."""
    other = {client: upstream, upstream: client}
    with selectors.DefaultSelector() as selector:
        for connection in other:
            selector.register(connection, selectors.EVENT_READ, data=connection)
        try:
            while True:
                for key, _ in selector.select():
                    source: socket.socket = key.data
                    data = source.recv(_RELAY_CHUNK_BYTES)
                    if not data:
                        return
                    other[source].sendall(data)
        except OSError:
            return  # one side reset or was shut down when the proxy stopped


class ForwardProxy:
    """A forwarding proxy on a local port, served from a background thread.

    Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Configure the proxy; nothing listens until `start()`.

        Args:
            host: Interface to listen on.
            port: Port to listen on; 0 picks a free one.
        """
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[ProxiedRequest] = []
        self._httpd: _ProxyHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (known once started)."""
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The proxy's URL, for `HTTPS_PROXY`: e.g. `http://127.0.0.1:8124`."""
        return f"http://{self._host}:{self.port}"

    @property
    def requests(self) -> list[ProxiedRequest]:
        """A snapshot of every request that came through, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests came through (a tunnel counts once)."""
        with self._lock:
            return len(self._requests)

    def record(self, request: ProxiedRequest) -> None:
        """Note a request (called by the handler).

        Args:
            request: What the client asked for.
        """
        with self._lock:
            self._requests.append(request)

    def start(self) -> Self:
        """Listen and serve in a background daemon thread.

        Returns:
            This proxy.

        Raises:
            RuntimeError: The proxy is already running.
        """
        if self._httpd is not None:
            msg = "The proxy is already running"
            raise RuntimeError(msg)
        self._httpd = _ProxyHttpServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name=f"sandbox-proxy-{self._httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection and tunnel."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.disconnect_all()
        httpd.server_close()
        thread.join()
        self._port = int(httpd.server_address[1])
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        """Start the proxy."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        exc_traceback: TracebackType | None,
    ) -> None:
        """Stop the proxy."""
        self.stop()
