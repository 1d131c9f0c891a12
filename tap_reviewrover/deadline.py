"""A deadline on a whole response: connecting, the headers and the body.

``requests`` applies its timeout to each socket operation: a server that sends a
byte every second never trips it, and one try lasts as long as the server likes.
Here a single watchdog thread holds the deadline of every request in flight and,
when one passes, shuts down that request's socket, so that the blocked read
returns at once and the try fails like a timeout.

Use it as::

    session.mount("https://", DeadlineAdapter())
    with watchdog.watch(seconds) as watch:
        response = session.send(prepared, timeout=(seconds, seconds))
    # leaving the block raises ResponseTimeoutError if the deadline cut it short

The adapter's connections tell the watch of the current thread which socket the
request uses (:class:`_WatchedConnectionMixin`); nothing else changes in how
``requests`` and ``urllib3`` send and pool.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import typing as t

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from tap_reviewrover.threads import start_deaf_to_stops

if t.TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self
    from urllib3 import PoolManager

#: The watch of the request this thread is sending, if any.
_current = threading.local()


class ResponseTimeoutError(requests.exceptions.ReadTimeout):
    """The whole response did not arrive within the deadline."""


class Watch:
    """The deadline of one request; see :meth:`Watchdog.watch`."""

    def __init__(self, seconds: float, deadline: float) -> None:
        """Arm nothing yet; the watchdog does.

        Args:
            seconds: The time allowed, for the message.
            deadline: When it runs out, on :func:`time.monotonic`.
        """
        self.seconds = seconds
        self.deadline = deadline
        self.expired = False
        self._lock = threading.Lock()
        self._done = False
        self._connection: HTTPConnection | None = None

    def uses(self, connection: HTTPConnection) -> None:
        """Note the connection the request goes out on.

        Args:
            connection: The urllib3 connection.
        """
        with self._lock:
            self._connection = connection
            if self.expired:
                _shut(connection)

    def expire(self) -> None:
        """The deadline passed: cut the request's connection, if still sending."""
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._connection is not None:
                _shut(self._connection)

    @property
    def done(self) -> bool:
        """Whether the request finished (or gave up) already."""
        return self._done

    def __enter__(self) -> Self:
        """Make this the watch of the current thread's request.

        Returns:
            The watch.
        """
        _current.watch = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Disarm; turn a failure caused by the deadline into a timeout.

        Raises:
            ResponseTimeoutError: If the request failed after the deadline cut it.
        """
        _current.watch = None
        with self._lock:
            self._done = True
        if exc is not None and self.expired and isinstance(exc, Exception):
            msg = f"no whole answer within {self.seconds:g} s"
            raise ResponseTimeoutError(msg) from None


def _shut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # closed meanwhile
            sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread that expires the watches whose deadline has passed."""

    def __init__(self, clock: t.Callable[[], float] = time.monotonic) -> None:
        """Start with no watch; the thread starts with the first one.

        Args:
            clock: The monotonic clock deadlines are read on.
        """
        self._clock = clock
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float) -> Watch:
        """A deadline ``seconds`` from now for the request about to be sent.

        Args:
            seconds: The time the whole response may take.

        Returns:
            The watch, to use as a context manager around the request.
        """
        watch = Watch(seconds, self._clock() + seconds)
        with self._condition:
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="response-deadline", daemon=True
                )
                start_deaf_to_stops(self._thread)  # stops are the walk's to take
            elif self._heap[0][2] is watch:
                self._condition.notify()
        return watch

    def cut_all(self) -> None:
        """Cut every request in flight now (nobody waits for their answers)."""
        with self._condition:
            watches = [watch for _, _, watch in self._heap]
        for watch in watches:
            watch.expire()

    def recheck(self) -> None:
        """Look at the deadlines again now: the clock moved (a test's clock)."""
        with self._condition:
            self._condition.notify()

    def _run(self) -> None:
        with self._condition:
            while True:
                if not self._heap:
                    self._thread = None  # the next watch starts another
                    return
                deadline, _, watch = self._heap[0]
                if watch.done:
                    heapq.heappop(self._heap)
                    continue
                wait = deadline - self._clock()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                watch.expire()


class _WatchedConnectionMixin:
    """Tells the current thread's watch which connection its request uses."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._tell_watch()

    def request(self, *args: t.Any, **kwargs: t.Any) -> None:  # noqa: ANN401 - urllib3's
        self._tell_watch()
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _tell_watch(self) -> None:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.uses(t.cast("HTTPConnection", self))


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {
    "http": _WatchedHTTPConnectionPool,
    "https": _WatchedHTTPSConnectionPool,
}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections a :class:`Watch` can cut."""

    def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:  # noqa: ANN401 - requests'
        """Create the pool manager, with watched connection pools.

        Args:
            *args: Passed to requests.
            **kwargs: Passed to requests.
        """
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(
        self,
        proxy: str,
        **proxy_kwargs: t.Any,  # noqa: ANN401 - requests'
    ) -> PoolManager:
        """The manager for a proxy, with watched connection pools.

        Args:
            proxy: The proxy's URL.
            **proxy_kwargs: Passed to requests.

        Returns:
            The proxy's pool manager.
        """
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
