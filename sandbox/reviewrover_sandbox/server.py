"""A local HTTP server implementing the documented ReviewRover Enrollments API.

Routes (all under `/api`, bearer token required):

- `GET /api/v1/enrollments`: list, newest created first, paginated by page number
- `POST /api/v1/enrollments`: create (form-encoded or JSON body)
- `GET /api/v1/enrollments/{id}`: retrieve
- `DELETE /api/v1/enrollments/{id}`: delete
- `GET /api/v1/reviews`: a second list, newest submitted first, paged the same way

Tests script misbehaviour of the lists with `server.faults`, limit their rate
with `server.rate_limit` and change data mid-sync from `server.on_list_request`
callbacks. The routes are in `api.py`, the HTTP plumbing in `transport.py`.

Opt-in, for an API that is not quite what the documentation says: HTTPS with a
private CA or an untrusted certificate (`tls=`, see `tls.py`; `ca_bundle`), a
`Date` clock apart from the clock that stamps records (`date_clock`), and gzip
for clients that accept it (`gzip_responses`).
"""

from __future__ import annotations

import threading
import traceback
from http import HTTPStatus
from typing import TYPE_CHECKING

from reviewrover_sandbox.api import ApiHandler, RequestRecord
from reviewrover_sandbox.plan import LIST_NAMES, RETRIEVE_PATH, FaultPlan
from reviewrover_sandbox.responses import ApiError
from reviewrover_sandbox.reviews import ReviewStore
from reviewrover_sandbox.store import EnrollmentStore
from reviewrover_sandbox.transport import SandboxHttpServer

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

    from typing_extensions import Self

    from reviewrover_sandbox.plan import ListName, RetrievePath
    from reviewrover_sandbox.ratelimit import TokenBucket
    from reviewrover_sandbox.records import RecordStore
    from reviewrover_sandbox.timestamps import Clock
    from reviewrover_sandbox.tls import SandboxTls

    ListRequestCallback = Callable[..., object]

__all__ = ["DEFAULT_REVIEW_COUNT", "DEFAULT_TOKEN", "RequestRecord", "SandboxServer"]

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the public token of a local sandbox
DEFAULT_REVIEW_COUNT = 60


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
        gzip_responses: Gzip the body of every answer whose request accepts
            gzip (`Accept-Encoding`), with `Content-Encoding` and `Vary`
            headers. False (the default): bodies go as they are, as the API's
            documentation promises no compression.
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
        tls: SandboxTls | None = None,
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
            tls: Serve HTTPS with this certificate (see `tls.py`); None: HTTP.
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
        self.gzip_responses = False
        self.hook_errors: list[BaseException] = []
        self._date_clock: Clock | None = None
        self.tls = tls
        self._host = host
        self._port = port
        self._httpd: SandboxHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._list_request_count = 0
        self._list_callbacks: list[
            tuple[ListName | RetrievePath, ListRequestCallback, bool]
        ] = []

    @property
    def clock(self) -> Clock:
        """The API clock (the store's): set `clock.offset_seconds` to skew it.

        It stamps new and changed records (`created_at`, `updated_at`) and,
        unless `date_clock` is set apart, the `Date` header too.
        """
        return self.store.clock

    @property
    def date_clock(self) -> Clock:
        """The clock of the `Date` header (and of epoch rate-limit resets).

        The data clock (`clock`) unless a test assigns a clock of its own, as
        when the API's front end and its database disagree::

            sandbox.date_clock = Clock(90)  # Date 90 s ahead of the data

        Assign None to share the data clock again.
        """
        return self._date_clock if self._date_clock is not None else self.clock

    @date_clock.setter
    def date_clock(self, clock: Clock | None) -> None:
        self._date_clock = clock

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
        """The base URL to give the tap as `api_url`, e.g. `http://127.0.0.1:8123/api`.

        `https://...` when the sandbox serves TLS.
        """
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{self._host}:{self.port}/api"

    @property
    def ca_bundle(self) -> Path | None:
        """The HTTPS certificate's CA as a PEM file, for `REQUESTS_CA_BUNDLE`.

        None over HTTP, or when nobody may trust the certificate.
        """
        return None if self.tls is None else self.tls.ca_bundle

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
        self._httpd = SandboxHttpServer(
            (self._host, self._port),
            self,
            ApiHandler,
            tls_context=None if self.tls is None else self.tls.context,
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,  # stopped at once (serving.py)
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
        self,
        callback: ListRequestCallback,
        *,
        path: ListName | RetrievePath = "enrollments",
        with_query: bool = False,
    ) -> ListRequestCallback:
        """Call `callback(page, request_number)` before each response of a list.

        `request_number` counts list requests (of any list) from 1. Callbacks
        run in the request's thread with no sandbox lock held, so they may
        change the stores. They run before faults and authentication, for
        every request of their list whose `page` parameter is valid and that
        the rate limiter let through. Usable as a decorator (for enrollments).

        With `path="enrollment"` the callback hears the requests for one
        enrollment (`GET /v1/enrollments/{id}`) instead: `page` is the id, and
        `request_number` is 0 (they are no list requests).

        Args:
            callback: The function to call.
            path: The list whose requests it hears: "enrollments" (the
                default) or "reviews"; or "enrollment".
            with_query: Call `callback(page, request_number, query)`, with the
                request's query parameters (such as `completed`) as a dict.

        Returns:
            The callback.

        Raises:
            ValueError: `path` is not a list.
        """
        if path not in (*LIST_NAMES, RETRIEVE_PATH):
            msg = f"path must be one of {(*LIST_NAMES, RETRIEVE_PATH)}"
            raise ValueError(msg)
        with self._lock:
            self._list_callbacks.append((path, callback, with_query))
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
        self,
        page: int,
        request_number: int,
        *,
        path: ListName | RetrievePath = "enrollments",
        query: dict[str, str] | None = None,
    ) -> None:
        """Run the `on_list_request` callbacks of a list (called by the handler).

        Args:
            page: The requested page (or enrollment id).
            request_number: The list request's number, from 1 (0: a retrieve).
            path: The list requested, or "enrollment".
            query: The request's query parameters.

        Raises:
            ApiError: A callback failed; the request gets status 500.
        """
        with self._lock:
            callbacks = [
                (hook, with_query)
                for name, hook, with_query in self._list_callbacks
                if name == path
            ]
        try:
            for callback, with_query in callbacks:
                if with_query:
                    callback(page, request_number, dict(query or {}))
                else:
                    callback(page, request_number)
        except Exception as error:  # a test's hook failed: report it, keep serving
            traceback.print_exc()
            with self._lock:
                self.hook_errors.append(error)
            message = f"on_list_request callback failed: {error!r}"
            raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, message) from error
