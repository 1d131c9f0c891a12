"""HTTP behaviour against a misbehaving sandbox: retries, waits and clear errors."""

from __future__ import annotations

import datetime as dt
import email.utils
import gc
import logging
import threading
import typing as t
import warnings

import pytest
import requests
from reviewrover_sandbox import Clock, Fault, TokenBucket

from tap_reviewrover import fetching, pacing, requester
from tap_reviewrover.errors import (
    BadResponseError,
    RequestRejectedError,
    RetriesExhaustedError,
    RetryAfterTooLongError,
    TokenRejectedError,
    WrongApiUrlError,
)
from tap_reviewrover.pause import SharedPause
from tap_reviewrover.waits import MAX_WAIT_SECONDS as MAX_RETRY_AFTER_SECONDS
from tests.conftest import SEEDED, sync, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")


def list_statuses(sandbox: SandboxServer) -> list[int | None]:
    return [r.status for r in sandbox.requests if r.path.endswith("/v1/enrollments")]


def assert_complete_sync(sandbox: SandboxServer, config: dict[str, t.Any]) -> None:
    output = sync(config)
    assert output.records == sandbox.store.all_records()
    assert output.bookmark is not None


def test_429_waits_exactly_what_retry_after_says(
    sandbox: SandboxServer,
    waits: list[float],
) -> None:
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "7"}), times=2, page=3)
    assert_complete_sync(sandbox, tap_config(sandbox))
    assert waits == [7.0, 7.0]
    assert list_statuses(sandbox).count(429) == 2


def test_429_with_an_http_date_is_read_on_the_api_clock(
    sandbox: SandboxServer,
    waits: list[float],
) -> None:
    # The API's Date stands half an hour behind this host, whenever the request
    # comes: the wait is 30 s on its clock, however long the sync took to get there.
    behind = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    sandbox.date_clock = Clock(-1800, source=lambda: behind)
    retry_at = sandbox.date_clock.now().timestamp() + 30
    header = email.utils.formatdate(retry_at, usegmt=True)
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": header}), page=2)
    assert_complete_sync(sandbox, tap_config(sandbox))
    assert waits == [30.0]


@pytest.mark.parametrize("retry_after", [None, "1"], ids=["none", "one-second"])
@pytest.mark.usefixtures("virtual_pacing")
def test_a_429_of_a_per_second_limit_slows_the_pace_instead_of_waiting(
    sandbox: SandboxServer,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
    retry_after: str | None,
) -> None:
    caplog.set_level(logging.INFO)  # a paced 429 is no warning: it is the pace
    headers = {"Retry-After": retry_after} if retry_after else {}
    sandbox.faults.add(Fault.status(429, headers=headers), times=3, page=2)
    assert_complete_sync(sandbox, tap_config(sandbox))
    # The retry loop waits nothing: the pacer spaces the retries.
    assert waits == []
    slowed = [r for r in caplog.records if "slowing down to" in r.getMessage()]
    assert len(slowed) == 3
    assert list_statuses(sandbox).count(429) == 3


def test_a_retry_after_longer_than_the_tap_waits_stops_the_sync_at_once(
    sandbox: SandboxServer, waits: list[float]
) -> None:
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "86400"}), page=2)
    with pytest.raises(RetryAfterTooLongError, match="asked to wait 86400 s") as caught:
        sync(tap_config(sandbox))
    assert f"more than the {MAX_RETRY_AFTER_SECONDS:.0f} s the tap waits" in str(
        caught.value
    )
    assert waits == []


def test_a_retry_after_up_to_the_cap_is_waited(
    sandbox: SandboxServer, waits: list[float]
) -> None:
    cap = f"{MAX_RETRY_AFTER_SECONDS:.0f}"
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": cap}), page=2)
    assert_complete_sync(sandbox, tap_config(sandbox))
    assert waits == [MAX_RETRY_AFTER_SECONDS]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(500),
        Fault.status(502),
        Fault.status(503),
        Fault.status(504),
        Fault.html(502),
        Fault.drop(),
        Fault.truncate(),
        Fault.not_json(),
    ],
    ids=["500", "502", "503", "504", "html", "drop", "truncate", "not-json"],
)
def test_transient_failures_are_retried_and_the_sync_completes(
    sandbox: SandboxServer,
    waits: list[float],
    fault: Fault,
) -> None:
    # A slow answer cut by the request timeout: tests/test_deadlines.py.
    sandbox.faults.add(fault, times=2, page=4)
    assert_complete_sync(sandbox, tap_config(sandbox))
    assert len(waits) == 2


def test_a_failure_that_persists_stops_after_the_retry_limit_with_what_happened(
    sandbox: SandboxServer,
    waits: list[float],
) -> None:
    sandbox.faults.add(Fault.status(503), times=100, page=2)
    with pytest.raises(RetriesExhaustedError) as caught:
        sync(tap_config(sandbox, max_retries=2))
    message = str(caught.value)
    assert "Gave up on page 2" in message
    assert "after 3 tries" in message
    assert "HTTP 503" in message
    assert len(waits) == 2
    page_two = [r.status for r in sandbox.requests if r.query.get("page") == "2"]
    assert page_two == [503, 503, 503]


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_token_stops_at_once(sandbox: SandboxServer, status: int) -> None:
    sandbox.faults.add(Fault.status(status))
    with pytest.raises(TokenRejectedError, match="rejected the API token"):
        sync(tap_config(sandbox))
    assert sandbox.list_request_count == 1


def test_a_wrong_token_is_rejected_by_the_api(sandbox: SandboxServer) -> None:
    with pytest.raises(TokenRejectedError, match=r"HTTP 401: Invalid or missing"):
        sync(
            tap_config(
                sandbox,
                auth_token="not-the-token",  # noqa: S106 - a wrong token on purpose
            )
        )


def test_a_404_says_the_api_url_looks_wrong(sandbox: SandboxServer) -> None:
    wrong_url = sandbox.url.removesuffix("/api")
    with pytest.raises(WrongApiUrlError, match="api_url setting looks wrong"):
        sync(tap_config(sandbox, api_url=wrong_url))


@pytest.mark.parametrize("status", [400, 422])
def test_a_refused_request_shows_the_api_message(
    sandbox: SandboxServer, status: int
) -> None:
    body = {"error": {"type": "invalid_request", "message": "campaign_id is malformed"}}
    sandbox.faults.add(Fault.status(status, body=body))
    with pytest.raises(RequestRejectedError, match="campaign_id is malformed"):
        sync(tap_config(sandbox))
    assert sandbox.list_request_count == 1


def test_every_request_carries_the_token_and_a_user_agent(
    sandbox: SandboxServer,
) -> None:
    sync(tap_config(sandbox, user_agent="acme-data/1.0"))
    assert len(sandbox.requests) > 1
    assert {r.status for r in sandbox.requests} == {200}
    assert {r.headers.get("User-Agent") for r in sandbox.requests} == {"acme-data/1.0"}


def test_retries_do_not_duplicate_records(
    sandbox: SandboxServer, waits: list[float]
) -> None:
    for page in (1, 5, 10):
        sandbox.faults.add(Fault.truncate(), page=page)
    output = sync(tap_config(sandbox))
    assert len(output.ids) == len(set(output.ids)) == SEEDED
    assert len(waits) == 3


def first_page_body(sandbox: SandboxServer) -> dict[str, t.Any]:
    """The list's first page as the API serves it, read over HTTP."""
    response = requests.get(
        f"{sandbox.url}/v1/enrollments",
        params={"page": 1, "limit": 10},
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    response.raise_for_status()
    return t.cast("dict[str, t.Any]", response.json())


def test_an_api_that_ignores_the_page_parameter_is_an_error_not_a_short_sync(
    sandbox: SandboxServer,
) -> None:
    body = first_page_body(sandbox)
    body["pagination"]["page"] = 2  # it even claims to be page 2
    sandbox.faults.add(Fault.status(200, body=body), page=2, times=10)
    with pytest.raises(BadResponseError, match="repeats records already read"):
        sync(tap_config(sandbox))


def test_an_answer_for_another_page_is_an_error(sandbox: SandboxServer) -> None:
    body = first_page_body(sandbox)
    sandbox.faults.add(Fault.status(200, body=body), page=3, times=10)
    with pytest.raises(
        BadResponseError,
        match=r"asked for page 3 but the API answered with page 1 \(read 3 times\)",
    ):
        sync(tap_config(sandbox))


def test_an_answer_for_another_page_once_is_read_again(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.status(200, body=first_page_body(sandbox)), page=3)
    assert_complete_sync(sandbox, tap_config(sandbox))
    page_three = [r for r in sandbox.requests if r.query.get("page") == "3"]
    assert len(page_three) >= 2


def test_a_body_without_pagination_is_named(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.status(200, body={"enrollments": []}), page=2)
    with pytest.raises(BadResponseError, match="missing required field `pagination`"):
        sync(tap_config(sandbox))


def test_fields_the_schema_lacks_are_left_out_with_one_warning(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = first_page_body(sandbox)
    for record in body["enrollments"]:
        record["priority"] = "high"
    sandbox.faults.add(Fault.status(200, body=body), page=1)
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    warnings = [r.getMessage() for r in caplog.records if "priority" in r.getMessage()]
    assert len(warnings) == 1
    assert "does not know" in warnings[0]


def test_the_summary_line_counts_every_retry(
    sandbox: SandboxServer,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    sandbox.faults.add(Fault.status(503), times=2, page=2)
    sandbox.faults.add(Fault.status(429), times=1, page=3)
    sync(tap_config(sandbox))
    summary = [r.getMessage() for r in caplog.records if "done:" in r.getMessage()]
    assert len(summary) == 1
    assert f"{SEEDED} records emitted" in summary[0]
    assert " 3 retries" in summary[0]
    assert len(waits) == 2  # the 429 is paced: the pacer spaces its retry


class WatchedPause(SharedPause):
    """The requester's pause, counting the workers parked at it."""

    instances: t.ClassVar[list[WatchedPause]] = []

    def __init__(self) -> None:
        """Count from 0, and be found by the test."""
        super().__init__()
        self.parked = 0
        self.changed = threading.Condition()
        WatchedPause.instances.append(self)

    def wait_for_the_others(self, cancelled: threading.Event | None = None) -> None:
        """Count the worker as parked while it waits."""
        self._park(1)
        try:
            super().wait_for_the_others(cancelled)
        finally:
            self._park(-1)

    def _park(self, change: int) -> None:
        with self.changed:
            self.parked += change
            self.changed.notify_all()


def test_while_one_request_waits_to_retry_no_other_request_starts(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    each_mode: int,
) -> None:
    # Page 2's 429 comes back while the other workers are held inside pages 3
    # to 5 (the server waits for the test); once those are let go, the workers
    # must park at the pause, not start later pages, until page 2's wait ends.
    WatchedPause.instances.clear()
    monkeypatch.setattr(requester, "SharedPause", WatchedPause)
    in_flight = threading.Event()
    started: list[int] = []

    def hold_pages_3_to_5(page: int, _: int) -> None:
        started.append(page)
        if 3 <= page <= 5:
            assert in_flight.wait(30), "the test never let the page go"

    sandbox.on_list_request(hold_pages_3_to_5)
    during: list[int] = []

    def wait(seconds: float, cancelled: threading.Event) -> None:
        del cancelled
        assert seconds == 7
        (pause,) = WatchedPause.instances
        in_flight.set()  # pages 3 to 5 may answer now
        others = min(each_mode - 1, 3)  # the workers busy with pages 3 to 5
        with pause.changed:  # the other workers reach the pause
            assert pause.changed.wait_for(lambda: pause.parked >= others, timeout=30)
            assert pause.parked == others
        during.extend(page for page in started if page > 5)

    monkeypatch.setattr(requester, "wait_before_retry", wait)
    # Reading ahead on whatever the answers' speed: pages 2 to 5 go out together.
    monkeypatch.setattr(fetching, "LATENCY_WORTH_READING_AHEAD", 0.0)
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "7"}), page=2)
    if each_mode == 1:
        in_flight.set()  # one worker: no page 3 is on its way during the wait
    assert_complete_sync(sandbox, tap_config(sandbox))
    assert during == []
    assert any(page > 5 for page in started)


def test_a_redirect_is_an_error_naming_where_it_pointed(sandbox: SandboxServer) -> None:
    target = "http://127.0.0.1:99999/api/v1/enrollments"
    sandbox.faults.add(Fault.redirect(target), page=1, times=None)
    with pytest.raises(
        WrongApiUrlError, match=r"redirecting to http://127\.0\.0\.1:99999"
    ):
        sync(tap_config(sandbox))


def test_a_refused_redirect_leaves_no_socket_to_the_garbage_collector(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault.redirect("https://example.invalid/"), page=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(WrongApiUrlError):
            sync(tap_config(sandbox))
        gc.collect()  # a socket left open warns as it is collected
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


def test_a_json_body_nested_a_thousand_deep_is_a_clear_error(
    sandbox: SandboxServer,
) -> None:
    body = b'{"enrollments": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    sandbox.faults.add(Fault.raw(200, body), page=2, times=None)
    with pytest.raises(BadResponseError, match="for page 2: record 1"):
        sync(tap_config(sandbox))


def test_nothing_listening_at_the_api_url_says_so(
    sandbox: SandboxServer, waits: list[float]
) -> None:
    url = sandbox.url
    sandbox.stop()
    with pytest.raises(RetriesExhaustedError, match="connection was refused") as caught:
        sync(tap_config(sandbox, api_url=url, max_retries=1))
    assert f"nothing is listening at {url}" in str(caught.value)
    assert len(waits) == 1


class StepTime:
    """Time that moves only when someone sleeps: the pacer's and the API's."""

    def __init__(self) -> None:
        """Start at an arbitrary moment."""
        self._now = 1000.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """The time now."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass, at once."""
        with self._lock:
            self._now += max(0.0, seconds)


@pytest.fixture
def step_time(monkeypatch: pytest.MonkeyPatch) -> StepTime:
    """One clock for the tap's pacer and the sandbox's rate limit: no timing."""
    clock = StepTime()
    monkeypatch.setattr(pacing, "time", clock)
    return clock


# One request in flight: with several, requests taken in order by the pacer may
# reach the server in another, which a burst of 1 would punish by chance.
def test_a_rate_limited_api_is_paced_with_few_refusals(
    sandbox: SandboxServer, waits: list[float], step_time: StepTime
) -> None:
    # 10 pages at 40 requests a second, bursts of 3: the tap meets the limit,
    # learns it, and keeps to it instead of bursting into it again.
    sandbox.rate_limit = TokenBucket(rate=40.0, burst=3, clock=step_time.monotonic)
    assert_complete_sync(sandbox, tap_config(sandbox, max_concurrent_requests=1))
    refusals = list_statuses(sandbox).count(429)
    assert 1 <= refusals <= 6
    assert waits == []  # the pacer spaced the retries


def test_a_known_limit_is_kept_from_the_first_request(
    sandbox: SandboxServer, step_time: StepTime
) -> None:
    sandbox.rate_limit = TokenBucket(rate=60.0, burst=1, clock=step_time.monotonic)
    config = tap_config(sandbox, max_requests_per_second=40, max_concurrent_requests=1)
    assert_complete_sync(sandbox, config)
    assert 429 not in list_statuses(sandbox)


def test_the_read_ahead_rule_times_the_api_not_the_tap_decoding_its_answer(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a clock that moves only while a page is decoded (a second a page), the
    # API answers at once: a slow machine decoding pages must not look like a slow
    # API, or a fast local API would be read ahead at a third more CPU.
    clock = [0.0]
    monkeypatch.setattr(
        requester,
        "time",
        type("Clock", (), {"monotonic": staticmethod(lambda: clock[0])}),
    )
    decode = requester.Requester._decode

    def slow_decode(self: requester.Requester, *args: t.Any, **kwargs: t.Any) -> t.Any:
        clock[0] += 1.0
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(requester.Requester, "_decode", slow_decode)
    timed: list[float] = []
    answered_in = fetching.ReadAhead.answered_in

    def record(self: fetching.ReadAhead, seconds: float) -> None:
        timed.append(seconds)
        answered_in(self, seconds)

    monkeypatch.setattr(fetching.ReadAhead, "answered_in", record)
    output = sync(tap_config(sandbox, max_concurrent_requests=4))
    assert len(output.records) == SEEDED
    assert timed  # every page was timed
    assert timed == [0.0] * len(timed)
