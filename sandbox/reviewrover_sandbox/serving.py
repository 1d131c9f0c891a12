"""A threaded HTTP server whose `shutdown()` returns at once, not after a poll.

`socketserver.BaseServer.serve_forever` notices `shutdown()` only when its
`select` times out (every `poll_interval`), so each stop of a sandbox or proxy
waited up to that interval: tens of milliseconds, times every test that starts
one. `PromptlyStoppedServer` also watches a socket that `shutdown()` writes to,
so the loop wakes and ends as soon as it is asked.
"""

from __future__ import annotations

import selectors
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

# What socketserver itself uses (poll where there is poll, else select).
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector
)


class PromptlyStoppedServer(ThreadingHTTPServer):
    """A `ThreadingHTTPServer` that stops serving as soon as `shutdown()` asks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - ThreadingHTTPServer's
        """Create the server, and the socket pair that wakes its loop.

        Args:
            *args: ThreadingHTTPServer's arguments.
            **kwargs: ThreadingHTTPServer's keyword arguments.
        """
        self._wake_in, self._wake_out = socket.socketpair()
        self._stop_asked = threading.Event()
        self._stopped = threading.Event()
        super().__init__(*args, **kwargs)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Handle requests until `shutdown()`.

        Args:
            poll_interval: The longest wait between two calls of
                `service_actions` (the stop itself never waits for it).
        """
        self._stopped.clear()
        try:
            with _Selector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_in, selectors.EVENT_READ)
                while not self._stop_asked.is_set():
                    ready = selector.select(poll_interval)
                    if self._stop_asked.is_set():
                        break
                    woken = {key.fileobj for key, _ in ready}
                    if self._wake_in in woken:  # a stop asked of an earlier run
                        self._wake_in.recv(64)
                    if self in woken:  # as BaseServer.serve_forever does
                        self._handle_request_noblock()  # type: ignore[attr-defined]
                    self.service_actions()
        finally:
            self._stop_asked.clear()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop `serve_forever` and wait until it has returned.

        Called from another thread than the one serving, as with socketserver.
        """
        self._stop_asked.set()
        self._wake_out.send(b"\0")
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket and the wake-up pair."""
        super().server_close()
        self._wake_in.close()
        self._wake_out.close()
