"""Tests of the local ReviewRover sandbox API, mostly over real HTTP."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import tracemalloc
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, cast

import pytest
import requests
from reviewrover_sandbox import (
    DEFAULT_TOKEN,
    SEED_TIME,
    AlreadyEnrolled,
    Clock,
    EnrollmentStore,
    Fault,
    ForwardProxy,
    ProxiedRequest,
    ReviewStore,
    SandboxServer,
    SandboxTls,
    TieGroups,
    TokenBucket,
    format_timestamp,
    gzip_bomb,
)
from reviewrover_sandbox.compression import accepts_gzip

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

TOKEN = "test-token"  # noqa: S105 - not a secret
SEEDED = 120
TIMEOUT = 10
FIELDS = {
    "id",
    "campaign_id",
    "contact_id",
    "enrolled_at",
    "completed",
    "created_at",
    "updated_at",
}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A running sandbox with 120 seeded enrollments."""
    with SandboxServer(EnrollmentStore.seeded(SEEDED, seed=3), token=TOKEN) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """An HTTP session sending the sandbox's token."""
    with requests.Session() as http_session:
        http_session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield http_session


def list_enrollments(
    session: requests.Session, sandbox: SandboxServer, **params: Any
) -> requests.Response:
    """GET the list endpoint."""
    return session.get(f"{sandbox.url}/v1/enrollments", params=params, timeout=TIMEOUT)


def list_reviews(
    session: requests.Session, sandbox: SandboxServer, **params: Any
) -> requests.Response:
    """GET the reviews list."""
    return session.get(f"{sandbox.url}/v1/reviews", params=params, timeout=TIMEOUT)


def all_pages(
    session: requests.Session, sandbox: SandboxServer, **params: Any
) -> list[dict[str, Any]]:
    """Fetch every page of the enrollments listing, in order."""
    return all_pages_of(session, sandbox, "enrollments", **params)


def all_pages_of(
    session: requests.Session, sandbox: SandboxServer, path: str, /, **params: Any
) -> list[dict[str, Any]]:
    """Fetch every page of a list ("enrollments" or "reviews"), in order."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        response = session.get(
            f"{sandbox.url}/v1/{path}",
            params={"page": page, **params},
            timeout=TIMEOUT,
        )
        body = response.json()
        records += body[path]
        if page >= body["pagination"]["total_pages"]:
            return records
        page += 1


def ids(records: list[dict[str, Any]]) -> list[Any]:
    """The ids of records, in order."""
    return [record["id"] for record in records]


class SteppedClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        """Start at 0 seconds; tests set `seconds`."""
        self.seconds = 0.0

    def __call__(self) -> float:
        """Return the current time, in seconds."""
        return self.seconds


def send_list_request(
    sandbox: SandboxServer, target: str = "/api/v1/enrollments"
) -> socket.socket:
    """Open a raw connection and send an authenticated GET; the caller reads."""
    connection = socket.create_connection(("127.0.0.1", sandbox.port), timeout=TIMEOUT)
    request = (
        f"GET {target} HTTP/1.1\r\nHost: sandbox\r\n"
        f"Authorization: Bearer {TOKEN}\r\n\r\n"
    )
    connection.sendall(request.encode())
    return connection


def receive_until(connection: socket.socket, marker: bytes) -> bytes:
    """Read from a raw connection until `marker` has arrived; return all read."""
    received = b""
    while marker not in received:
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk
    return received


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """The threads started since `before` was taken (the server's handlers)."""
    return [thread for thread in threading.enumerate() if thread not in before]


# Authentication


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}],
    ids=["missing", "wrong-token", "not-bearer"],
)
def test_requests_without_the_right_bearer_token_get_401(
    sandbox: SandboxServer, headers: dict[str, str]
) -> None:
    """A missing, wrong or malformed Authorization header is refused with 401."""
    response = requests.get(
        f"{sandbox.url}/v1/enrollments/1", headers=headers, timeout=TIMEOUT
    )

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert "token" in response.json()["error"]["message"]


# Listing


def test_list_has_the_documented_shape(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The list body is `enrollments` plus `pagination`, with documented defaults."""
    body = list_enrollments(session, sandbox).json()

    assert set(body) == {"enrollments", "pagination"}
    assert body["pagination"] == {
        "page": 1,
        "limit": 25,
        "total": 120,
        "total_pages": 5,
    }
    assert len(body["enrollments"]) == 25
    record = body["enrollments"][0]
    assert set(record) == FIELDS
    assert isinstance(record["id"], int)
    assert isinstance(record["completed"], bool)


@pytest.mark.parametrize(
    ("limit", "page", "expected"),
    [(25, 5, (20, 5)), (100, 2, (20, 2)), (7, 18, (1, 18)), (1, 120, (1, 120))],
    ids=["last-page", "max-limit", "uneven", "one-per-page"],
)
def test_pagination_math(
    sandbox: SandboxServer,
    session: requests.Session,
    limit: int,
    page: int,
    expected: tuple[int, int],
) -> None:
    """Each page holds `limit` records; total_pages is ceil(total / limit)."""
    count, total_pages = expected

    body = list_enrollments(session, sandbox, limit=limit, page=page).json()

    assert len(body["enrollments"]) == count
    assert body["pagination"] == {
        "page": page,
        "limit": limit,
        "total": SEEDED,
        "total_pages": total_pages,
    }


def test_page_past_the_end_is_empty_with_the_same_pagination(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A page past the last one is empty, not an error."""
    body = list_enrollments(session, sandbox, limit=50, page=4).json()

    assert body == {
        "enrollments": [],
        "pagination": {"page": 4, "limit": 50, "total": 120, "total_pages": 3},
    }


def test_empty_store_has_zero_pages(session: requests.Session) -> None:
    """With no records, total and total_pages are 0."""
    with SandboxServer(token=TOKEN) as empty:
        body = list_enrollments(session, empty).json()

    assert body["enrollments"] == []
    assert body["pagination"]["total"] == 0
    assert body["pagination"]["total_pages"] == 0


def test_pages_list_newest_created_first(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Pages read in order give every record, by created_at then id, descending."""
    records = all_pages(session, sandbox, limit=17)

    keys = [(record["created_at"], record["id"]) for record in records]
    assert keys == sorted(keys, reverse=True)
    assert [record["id"] for record in records] == sandbox.store.ids_in_api_order()
    assert len(records) == SEEDED


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("completed", True),
        ("completed", False),
        ("campaign_id", None),
        ("contact_id", None),
    ],
)
def test_filters_return_exactly_the_matching_records(
    sandbox: SandboxServer, session: requests.Session, name: str, value: object
) -> None:
    """Each filter returns all matching records and nothing else."""
    seeded = sandbox.store.all_records()
    wanted = seeded[0][name] if value is None else value
    param = str(wanted).lower() if isinstance(wanted, bool) else wanted

    records = all_pages(session, sandbox, limit=10, **{name: param})

    expected = [record for record in seeded if record[name] == wanted]
    assert records == expected
    assert 0 < len(records) < SEEDED


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be an integer between 1 and 100"),
        ({"limit": "101"}, "limit must be an integer between 1 and 100"),
        ({"limit": "ten"}, "limit must be an integer between 1 and 100"),
        ({"page": "0"}, "page must be a positive integer"),
        ({"page": "-1"}, "page must be a positive integer"),
        ({"page": "2.5"}, "page must be a positive integer"),
        ({"completed": "yes"}, "completed must be true or false"),
        ({"completed": "1"}, "completed must be true or false"),
    ],
)
def test_invalid_list_parameters_get_400(
    sandbox: SandboxServer,
    session: requests.Session,
    params: dict[str, str],
    message: str,
) -> None:
    """Out-of-range or malformed limit, page and completed get 400."""
    response = list_enrollments(session, sandbox, **params)

    assert response.status_code == 400
    assert response.json() == {
        "error": {"type": "invalid_request_error", "message": message}
    }


# Create, retrieve, delete


def test_create_from_form_data_then_retrieve(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A form POST (as curl -d sends) creates a record that GET then returns."""
    created = session.post(
        f"{sandbox.url}/v1/enrollments",
        data={"campaign_id": "camp_A", "contact_id": "cont_B"},
        timeout=TIMEOUT,
    )

    assert created.status_code == 201
    record = created.json()
    assert set(record) == FIELDS
    assert record["id"] == SEEDED + 1
    assert (record["campaign_id"], record["contact_id"]) == ("camp_A", "cont_B")
    assert record["completed"] is False
    assert record["created_at"] == record["updated_at"] == record["enrolled_at"]
    retrieved = session.get(
        f"{sandbox.url}/v1/enrollments/{record['id']}", timeout=TIMEOUT
    )
    assert retrieved.status_code == 200
    assert retrieved.json() == record
    assert list_enrollments(session, sandbox, limit=1).json()["enrollments"] == [record]


def test_create_from_json_body(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A JSON POST body is accepted too."""
    created = session.post(
        f"{sandbox.url}/v1/enrollments",
        json={"campaign_id": "camp_A", "contact_id": "cont_B"},
        timeout=TIMEOUT,
    )

    assert created.status_code == 201
    assert sandbox.store.get(created.json()["id"]) == created.json()


def test_enrolling_the_same_contact_again_within_24_hours_gets_409(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Re-enrolling a contact in the same campaign within 24 hours gets 409."""
    form = {"campaign_id": "camp_A", "contact_id": "cont_B"}
    url = f"{sandbox.url}/v1/enrollments"
    assert session.post(url, data=form, timeout=TIMEOUT).status_code == 201

    again = session.post(url, data=form, timeout=TIMEOUT)

    assert again.status_code == 409
    assert again.json()["error"]["type"] == "already_enrolled"
    assert len(sandbox.store) == SEEDED + 1


@pytest.mark.parametrize(
    "form", [{"campaign_id": "camp_A"}, {"contact_id": "cont_B"}, {}]
)
def test_create_without_both_ids_gets_422(
    sandbox: SandboxServer, session: requests.Session, form: dict[str, str]
) -> None:
    """Both campaign_id and contact_id are required."""
    response = session.post(f"{sandbox.url}/v1/enrollments", data=form, timeout=TIMEOUT)

    assert response.status_code == 422
    assert response.json()["error"]["message"].endswith("is required")


def test_retrieve_unknown_id_gets_404(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Retrieving an unknown id gets 404."""
    response = session.get(f"{sandbox.url}/v1/enrollments/999", timeout=TIMEOUT)

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_delete_removes_the_enrollment(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """DELETE answers the id and removes the record from every view."""
    url = f"{sandbox.url}/v1/enrollments/7"

    deleted = session.delete(url, timeout=TIMEOUT)

    assert deleted.status_code == 200
    assert deleted.json() == {"id": 7, "deleted": True}
    assert session.get(url, timeout=TIMEOUT).status_code == 404
    assert session.delete(url, timeout=TIMEOUT).status_code == 404
    assert (
        list_enrollments(session, sandbox).json()["pagination"]["total"] == SEEDED - 1
    )


def test_unknown_route_gets_404_json(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Unknown paths get a JSON 404."""
    response = session.get(f"{sandbox.url}/v1/contacts", timeout=TIMEOUT)

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_wrong_method_gets_405_with_allowed_methods(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """An unsupported method on a known path gets 405 and an Allow header."""
    response = session.put(f"{sandbox.url}/v1/enrollments/1", timeout=TIMEOUT)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, DELETE"
    assert response.json()["error"]["type"] == "method_not_allowed"


# Headers and connections


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/enrollments?limit=3", 200), ("/v1/enrollments/5", 200), ("/v1/nope", 404)],
)
def test_responses_are_json_with_a_correct_content_length(
    sandbox: SandboxServer, session: requests.Session, path: str, status: int
) -> None:
    """Responses are JSON and announce their exact length."""
    response = session.get(sandbox.url + path, timeout=TIMEOUT)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    json.loads(response.content)


def test_date_header_follows_the_api_clock_offset(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The Date header shows the API clock, including its offset."""
    sandbox.clock.offset_seconds = -3 * 86_400

    response = list_enrollments(session, sandbox)

    server_date = parsedate_to_datetime(response.headers["Date"])
    expected = datetime.now(timezone.utc) - timedelta(days=3)
    assert abs(server_date - expected) < timedelta(minutes=1)


def test_connections_are_kept_alive(sandbox: SandboxServer) -> None:
    """Several requests can use one HTTP/1.1 connection."""
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=TIMEOUT)
    try:
        for page in (1, 2):
            connection.request(
                "GET",
                f"/api/v1/enrollments?page={page}",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["pagination"]["page"] == page
    finally:
        connection.close()


def test_concurrent_requests_are_served_concurrently(
    sandbox: SandboxServer,
) -> None:
    """Two requests are inside the server at the same time."""
    # Both requests must be inside the server at once to pass the barrier;
    # a server answering one at a time would break it and answer 500.
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    sandbox.on_list_request(lambda _page, _number: barrier.wait())

    def fetch(page: int) -> int:
        with requests.Session() as own_session:
            own_session.headers["Authorization"] = f"Bearer {TOKEN}"
            return list_enrollments(own_session, sandbox, page=page).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(fetch, [1, 2]))

    assert statuses == [200, 200]


def test_requests_are_recorded(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Every answered request is logged with its query, status and headers."""
    session.headers["User-Agent"] = "sandbox-test/1.0"
    list_enrollments(session, sandbox, page=2, limit=10)
    session.get(f"{sandbox.url}/v1/enrollments/999", timeout=TIMEOUT)

    logged = [(r.method, r.path, r.query, r.status) for r in sandbox.requests]
    assert logged == [
        ("GET", "/api/v1/enrollments", {"page": "2", "limit": "10"}, 200),
        ("GET", "/api/v1/enrollments/999", {}, 404),
    ]
    assert {r.headers["User-Agent"] for r in sandbox.requests} == {"sandbox-test/1.0"}
    assert sandbox.list_request_count == 1


# Faults


def test_status_fault_answers_the_next_requests_then_is_used_up(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A status fault with times=2 answers two requests, then normal service resumes."""
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "2"}), times=2)

    responses = [list_enrollments(session, sandbox) for _ in range(3)]

    assert [response.status_code for response in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "2"
    assert responses[0].json()["error"]["type"] == "rate_limit_exceeded"
    assert sandbox.faults.pending() == 0


def test_status_fault_with_a_custom_body(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A status fault can carry its own JSON body."""
    sandbox.faults.add(Fault.status(500, body={"message": "boom"}))

    response = list_enrollments(session, sandbox)

    assert response.status_code == 500
    assert response.json() == {"message": "boom"}


def test_fault_for_a_page_waits_for_that_page(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A fault bound to a page leaves other pages alone."""
    sandbox.faults.add(Fault.status(503), page=2)

    statuses = [
        list_enrollments(session, sandbox, page=p).status_code for p in (1, 2, 2)
    ]

    assert statuses == [200, 503, 200]


def test_html_fault_sends_a_proxy_error_page(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """An HTML fault looks like a reverse proxy's error page."""
    sandbox.faults.add(Fault.html(502))

    response = list_enrollments(session, sandbox)

    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.startswith("<html>")


def test_slow_fault_makes_a_short_client_timeout_expire(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A slow fault outlasts a short client timeout; later requests are normal."""
    # An hour (cut short when the server stops): never answered within the
    # timeout, however slowly the client gets to its read.
    sandbox.faults.add(Fault.slow(3600))

    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{sandbox.url}/v1/enrollments", timeout=0.1)
    assert list_enrollments(session, sandbox).status_code == 200


def test_drop_fault_closes_the_connection_without_a_response(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A dropped connection is a connection error for the client."""
    sandbox.faults.add(Fault.drop())

    with pytest.raises(requests.exceptions.ConnectionError):
        list_enrollments(session, sandbox)
    assert sandbox.requests[-1].status is None
    assert list_enrollments(session, sandbox).status_code == 200


def test_truncate_fault_sends_half_of_the_announced_body(
    sandbox: SandboxServer,
) -> None:
    """A truncated body stops halfway through the announced length."""
    sandbox.faults.add(Fault.truncate())
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=TIMEOUT)
    try:
        connection.request(
            "GET", "/api/v1/enrollments", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        response = connection.getresponse()
        announced = int(response.headers["Content-Length"])
        with pytest.raises(http.client.IncompleteRead) as incomplete:
            response.read()
    finally:
        connection.close()

    assert response.status == 200
    assert len(incomplete.value.partial) == announced // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(incomplete.value.partial)


def test_truncate_fault_is_a_request_error_for_requests_clients(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The requests library reports a truncated body as ChunkedEncodingError."""
    sandbox.faults.add(Fault.truncate())

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list_enrollments(session, sandbox)


def test_not_json_fault_sends_a_body_that_does_not_parse(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A not-JSON fault claims JSON but sends a body that does not parse."""
    sandbox.faults.add(Fault.not_json())

    response = list_enrollments(session, sandbox)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_fault_with_times_none_answers_every_matching_request_until_cleared(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A persistent fault (times=None) never runs out; clear() ends it."""
    sandbox.faults.add(Fault.status(503), times=None, page=2)

    statuses = [
        list_enrollments(session, sandbox, page=p).status_code for p in (2, 1, 2, 2)
    ]
    sandbox.faults.clear()

    assert statuses == [503, 200, 503, 503]
    assert list_enrollments(session, sandbox, page=2).status_code == 200


def test_counted_fault_answers_before_a_persistent_one(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A counted fault interrupts a persistent one, which then resumes."""
    sandbox.faults.add(Fault.status(503), times=None)
    sandbox.faults.add(Fault.status(429), times=1)

    statuses = [list_enrollments(session, sandbox).status_code for _ in range(3)]

    assert statuses == [429, 503, 503]
    assert sandbox.faults.pending() == 0


def test_short_fault_keeps_the_first_records_and_the_pagination(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A short page holds its first `keep` records under the real pagination."""
    normal = list_enrollments(session, sandbox, limit=10).json()
    sandbox.faults.add(Fault.short(3))

    short = list_enrollments(session, sandbox, limit=10).json()

    assert short["enrollments"] == normal["enrollments"][:3]
    assert short["pagination"] == normal["pagination"]


def test_empty_fault_serves_a_page_without_records(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """An empty page claims the real totals."""
    sandbox.faults.add(Fault.empty(), page=2)

    body = list_enrollments(session, sandbox, page=2).json()

    assert body["enrollments"] == []
    assert body["pagination"] == {
        "page": 2,
        "limit": 25,
        "total": SEEDED,
        "total_pages": 5,
    }


def test_altering_fault_is_not_sent_to_a_request_without_the_token(
    sandbox: SandboxServer,
) -> None:
    """A fault that alters the normal answer still requires authentication."""
    sandbox.faults.add(Fault.short(1))

    response = requests.get(f"{sandbox.url}/v1/enrollments", timeout=TIMEOUT)

    assert response.status_code == 401


def test_pagination_fault_overrides_fields_and_leaves_records(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Overridden pagination fields are served as given; records are untouched."""
    normal = list_enrollments(session, sandbox).json()
    sandbox.faults.add(Fault.pagination(total_pages=10**9, total=500))

    lying = list_enrollments(session, sandbox).json()

    assert lying["enrollments"] == normal["enrollments"]
    assert lying["pagination"] == {
        "page": 1,
        "limit": 25,
        "total": 500,
        "total_pages": 10**9,
    }


def test_pagination_fault_with_none_removes_the_field(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A None value removes the field from the pagination object."""
    sandbox.faults.add(Fault.pagination(total_pages=None, limit=100))

    pagination = list_enrollments(session, sandbox).json()["pagination"]

    assert pagination == {"page": 1, "limit": 100, "total": SEEDED}


def test_serve_page_faults_swap_pages_one_and_two(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Page 1 gets page 2's records and the other way round, each paginated as asked."""
    normal = [
        list_enrollments(session, sandbox, page=p, limit=10).json() for p in (1, 2)
    ]
    sandbox.faults.add(Fault.serve_page(2), page=1)
    sandbox.faults.add(Fault.serve_page(1), page=2)

    swapped = [
        list_enrollments(session, sandbox, page=p, limit=10).json() for p in (1, 2)
    ]

    assert swapped[0]["enrollments"] == normal[1]["enrollments"]
    assert swapped[1]["enrollments"] == normal[0]["enrollments"]
    assert [body["pagination"] for body in swapped] == [
        body["pagination"] for body in normal
    ]


def test_serve_page_fault_keeps_the_filters(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The page served instead is a page of the same filtered listing."""
    completed = [r for r in sandbox.store.all_records() if r["completed"]]
    sandbox.faults.add(Fault.serve_page(2))

    body = list_enrollments(session, sandbox, limit=5, completed="true").json()

    assert body["enrollments"] == completed[5:10]
    assert body["pagination"]["page"] == 1


def corrupt(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bad data as an API might send it: wrong types, no id, an extra field."""
    first, second, third, fourth, *_ = records
    without_id = {name: value for name, value in third.items() if name != "id"}
    return [
        {**first, "id": "500"},
        {**second, "completed": "yes", "updated_at": "2024-13-45T99:99:99Z"},
        without_id,
        {**fourth, "surprise": {"nested": True}},
    ]


def test_records_fault_serves_what_the_transform_returns(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The page's records pass through the transform; pagination stays."""
    normal = list_enrollments(session, sandbox, limit=10).json()
    sandbox.faults.add(Fault.records(corrupt))

    body = list_enrollments(session, sandbox, limit=10).json()

    assert body["enrollments"] == corrupt(normal["enrollments"])
    assert body["pagination"] == normal["pagination"]


def test_records_fault_gets_copies(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A transform that changes records in place leaves the store alone."""
    before = sandbox.store.all_records()

    def overwrite_in_place(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for record in records:
            record["completed"] = "maybe"
        return records

    sandbox.faults.add(Fault.records(overwrite_in_place))

    lied = list_enrollments(session, sandbox, limit=100).json()["enrollments"]

    assert {record["completed"] for record in lied} == {"maybe"}
    assert list_enrollments(session, sandbox).json()["enrollments"] == before[:25]
    assert sandbox.store.all_records() == before


def test_date_fault_shifts_only_the_date_header(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The Date header is the API clock plus the offset; the body is normal."""
    normal = list_enrollments(session, sandbox)
    sandbox.faults.add(Fault.date(-7 * 86_400))

    shifted = list_enrollments(session, sandbox)

    gap = parsedate_to_datetime(normal.headers["Date"]) - parsedate_to_datetime(
        shifted.headers["Date"]
    )
    assert timedelta(days=7) - timedelta(minutes=1) < gap < timedelta(days=7, minutes=1)
    assert shifted.content == normal.content


def test_persistent_date_fault_runs_the_clock_ahead_until_cleared(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """With times=None the Date header is off on every list response until clear()."""
    years_76 = 76 * 365 * 86_400
    sandbox.faults.add(Fault.date(years_76), times=None)

    years = [
        parsedate_to_datetime(
            list_enrollments(session, sandbox, page=p).headers["Date"]
        ).year
        for p in (1, 2, 3)
    ]
    sandbox.faults.clear()
    after = parsedate_to_datetime(list_enrollments(session, sandbox).headers["Date"])

    this_year = datetime.now(timezone.utc).year
    assert all(year >= this_year + 75 for year in years)
    assert after.year <= this_year + 1


def test_echo_fault_quotes_the_authorization_and_the_request_target(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The error body repeats the raw Authorization value and the target."""
    sandbox.faults.add(Fault.echo(401))

    response = list_enrollments(session, sandbox, page=2, limit=5)

    assert response.status_code == 401
    target = "/api/v1/enrollments?page=2&limit=5"
    assert response.json() == {
        "error": f"token Bearer {TOKEN} is invalid for GET {target}"
    }


def test_echo_fault_sends_its_headers(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """An echo fault can carry extra headers, like a status fault."""
    sandbox.faults.add(Fault.echo(429, headers={"Retry-After": "3"}))

    response = list_enrollments(session, sandbox)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert TOKEN in response.json()["error"]


def test_drip_fault_declares_the_full_length_and_delivers_the_normal_body(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A drip with no pause delivers exactly the normal response."""
    normal = list_enrollments(session, sandbox, limit=5)
    sandbox.faults.add(Fault.drip(0.0))

    dripped = list_enrollments(session, sandbox, limit=5)

    assert dripped.status_code == 200
    assert dripped.headers["Content-Length"] == normal.headers["Content-Length"]
    assert dripped.content == normal.content


def test_drip_fault_sends_headers_then_one_body_byte_per_interval(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Headers come at once, then one byte, then nothing for the interval."""
    normal = list_enrollments(session, sandbox, limit=5)
    sandbox.faults.add(Fault.drip(3600))
    connection = send_list_request(sandbox, "/api/v1/enrollments?limit=5")
    try:
        received = receive_until(connection, b"\r\n\r\n")
        head, _, body = received.partition(b"\r\n\r\n")
        if not body:
            body = connection.recv(65536)
    finally:
        connection.close()

    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    length = f"Content-Length: {normal.headers['Content-Length']}".encode()
    assert length in head.split(b"\r\n")
    assert body == normal.content[:1]


def test_drip_fault_with_headers_too_drips_the_status_line(
    sandbox: SandboxServer,
) -> None:
    """With headers_too, even the status line arrives one byte at a time."""
    sandbox.faults.add(Fault.drip(3600, headers_too=True))
    connection = send_list_request(sandbox)
    try:
        first = connection.recv(65536)
    finally:
        connection.close()

    assert first == b"H"


def test_drip_stops_when_the_server_stops(sandbox: SandboxServer) -> None:
    """A stopping server ends a drip at once instead of after its interval."""
    sandbox.faults.add(Fault.drip(3600, headers_too=True))
    before = set(threading.enumerate())
    connection = send_list_request(sandbox)
    try:
        assert connection.recv(1) == b"H"
        handlers = new_threads(before)

        sandbox.stop()

        for handler in handlers:
            handler.join(timeout=TIMEOUT)
    finally:
        connection.close()
    assert handlers
    assert not any(handler.is_alive() for handler in handlers)


def test_client_hanging_up_on_a_drip_prints_no_traceback(
    sandbox: SandboxServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client that gives up on a drip ends it quietly."""
    sandbox.faults.add(Fault.drip(0.001))
    before = set(threading.enumerate())
    connection = send_list_request(sandbox)
    receive_until(connection, b"\r\n\r\n")
    handlers = new_threads(before)

    connection.close()
    for handler in handlers:
        handler.join(timeout=TIMEOUT)

    assert handlers
    assert not any(handler.is_alive() for handler in handlers)
    assert capfd.readouterr().err == ""


def test_raw_fault_sends_exactly_the_given_response(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Status, body bytes, content type and headers are sent as given."""
    body = b'{"enrollments": ["\xff\xfe not UTF-8"]}'
    sandbox.faults.add(
        Fault.raw(200, body, "application/json; charset=latin-1", {"X-Odd": "1"})
    )

    response = list_enrollments(session, sandbox)

    assert response.status_code == 200
    assert response.content == body
    assert response.headers["Content-Type"] == "application/json; charset=latin-1"
    assert response.headers["X-Odd"] == "1"


def test_raw_fault_can_send_json_nested_a_thousand_deep(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A body nested 1,000 levels deep arrives intact."""
    deep = b"[" * 1000 + b"]" * 1000
    sandbox.faults.add(Fault.raw(200, deep))

    response = list_enrollments(session, sandbox)

    assert response.content == deep
    assert int(response.headers["Content-Length"]) == 2000


def test_raw_fault_answers_without_the_token(sandbox: SandboxServer) -> None:
    """A raw answer replaces the API's, before authentication."""
    sandbox.faults.add(Fault.raw(418, b"teapot", "text/plain"))

    response = requests.get(f"{sandbox.url}/v1/enrollments", timeout=TIMEOUT)

    assert (response.status_code, response.text) == (418, "teapot")


def test_redirect_fault_sends_the_location(sandbox: SandboxServer) -> None:
    """A redirect fault answers its status with the given Location."""
    # http.client: requests parses the Location even with allow_redirects=False,
    # and raises ValueError on a port out of range.
    target = "http://127.0.0.1:99999/api/v1/enrollments"
    sandbox.faults.add(Fault.redirect(target))
    sandbox.faults.add(Fault.redirect("/elsewhere", 308))
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=TIMEOUT)
    answers = []
    try:
        for _ in range(2):
            connection.request("GET", "/api/v1/enrollments")
            response = connection.getresponse()
            response.read()
            answers.append((response.status, response.headers["Location"]))
    finally:
        connection.close()

    assert answers == [(302, target), (308, "/elsewhere")]


def test_fault_for_one_list_leaves_the_other_alone(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A fault with path="reviews" waits for a reviews request."""
    sandbox.faults.add(Fault.status(503), path="reviews")

    statuses = [
        list_enrollments(session, sandbox).status_code,
        list_reviews(session, sandbox).status_code,
        list_reviews(session, sandbox).status_code,
    ]

    assert statuses == [200, 503, 200]


def test_fault_without_a_path_matches_any_list(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """By default a fault answers the next request of either list."""
    sandbox.faults.add(Fault.empty(), times=2)

    bodies = [
        list_reviews(session, sandbox).json(),
        list_enrollments(session, sandbox).json(),
    ]

    assert [body.get("reviews", body.get("enrollments")) for body in bodies] == [[], []]


def test_faults_refuse_an_unknown_list_or_count(sandbox: SandboxServer) -> None:
    """A misspelt list or a count below 1 is refused when queued."""
    with pytest.raises(ValueError, match="path"):
        sandbox.faults.add(Fault.drop(), path="review")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        sandbox.faults.add(Fault.drop(), times=0)


# A server-wide page-size cap


def test_limit_cap_declared_serves_and_reports_the_cap(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A declared cap behaves as if the cap had been asked for."""
    sandbox.faults.limit_cap = 20
    order = sandbox.store.ids_in_api_order()

    second = list_enrollments(session, sandbox, page=2, limit=50).json()

    assert ids(second["enrollments"]) == order[20:40]
    assert second["pagination"] == {
        "page": 2,
        "limit": 20,
        "total": SEEDED,
        "total_pages": 6,
    }


def test_limit_cap_silent_serves_smaller_pages_under_the_asked_limit(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A silent cap serves pages of the cap but claims the limit asked for."""
    sandbox.faults.limit_cap = 20
    sandbox.faults.limit_cap_mode = "silent"
    order = sandbox.store.ids_in_api_order()

    second = list_enrollments(session, sandbox, page=2, limit=50).json()
    everything = all_pages(session, sandbox, limit=50)

    assert ids(second["enrollments"]) == order[20:40]
    assert second["pagination"] == {
        "page": 2,
        "limit": 50,
        "total": SEEDED,
        "total_pages": 3,
    }
    assert ids(everything) == order[:60]  # a trusting reader misses half


def test_limit_cap_silent_gaps_skips_records_between_pages(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """With gaps, pages start every `limit` records but hold only the cap."""
    sandbox.faults.limit_cap = 20
    sandbox.faults.limit_cap_mode = "silent_gaps"
    order = sandbox.store.ids_in_api_order()

    second = list_enrollments(session, sandbox, page=2, limit=50).json()

    assert ids(second["enrollments"]) == order[50:70]
    assert second["pagination"]["limit"] == 50
    assert second["pagination"]["total_pages"] == 3


@pytest.mark.parametrize("mode", ["declared", "silent", "silent_gaps"])
def test_limit_at_or_under_the_cap_is_served_normally(
    sandbox: SandboxServer, session: requests.Session, mode: Any
) -> None:
    """A request within the cap is not affected by it."""
    normal = list_enrollments(session, sandbox, page=2, limit=20).json()
    sandbox.faults.limit_cap = 20
    sandbox.faults.limit_cap_mode = mode

    assert list_enrollments(session, sandbox, page=2, limit=20).json() == normal


def test_clear_removes_the_limit_cap(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """faults.clear() lifts the cap and its mode."""
    sandbox.faults.limit_cap = 5
    sandbox.faults.limit_cap_mode = "silent"

    sandbox.faults.clear()

    assert sandbox.faults.limit_cap is None
    assert sandbox.faults.limit_cap_mode == "declared"
    assert len(list_enrollments(session, sandbox, limit=50).json()["enrollments"]) == 50


def test_limit_cap_rejects_bad_values(sandbox: SandboxServer) -> None:
    """A cap below 1 or an unknown mode is refused when set."""
    with pytest.raises(ValueError, match="limit_cap"):
        sandbox.faults.limit_cap = 0
    with pytest.raises(ValueError, match="limit_cap_mode"):
        sandbox.faults.limit_cap_mode = "loud"  # type: ignore[assignment]


# Rate limit


def test_token_bucket_lets_a_burst_through_then_refuses() -> None:
    """A full bucket allows `burst` requests at once, then none."""
    bucket = TokenBucket(rate=1.0, burst=3, clock=SteppedClock())

    allowed = [bucket.take().allowed for _ in range(4)]

    assert allowed == [True, True, True, False]


def test_token_bucket_refills_at_its_rate() -> None:
    """Tokens come back at `rate` a second, and not before."""
    clock = SteppedClock()
    bucket = TokenBucket(rate=2.0, burst=1, clock=clock)
    assert bucket.take().allowed

    clock.seconds = 0.4
    early = bucket.take()
    clock.seconds = 0.5
    on_time = bucket.take()

    assert not early.allowed
    assert early.reset_seconds == 1  # 0.1 s, rounded up to whole seconds
    assert on_time.allowed


def test_token_bucket_never_holds_more_than_its_burst() -> None:
    """After a long idle time the bucket holds `burst` tokens, no more."""
    clock = SteppedClock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)
    clock.seconds = 1000.0

    decisions = [bucket.take() for _ in range(3)]

    assert [d.allowed for d in decisions] == [True, True, False]
    assert [d.remaining for d in decisions] == [1, 0, 0]


def test_token_bucket_rejects_a_rate_or_burst_out_of_range() -> None:
    """Rate must be positive and burst at least 1."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0.0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1.0, burst=0)


def test_rate_limited_list_request_gets_429_with_retry_after(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Past the burst, list requests get 429, Retry-After: 1 and the API's error."""
    sandbox.rate_limit = TokenBucket(rate=20.0, burst=2, clock=SteppedClock())

    responses = [list_enrollments(session, sandbox) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].headers["Retry-After"] == "1"
    assert responses[2].json()["error"]["type"] == "rate_limit_exceeded"
    assert "RateLimit-Remaining" not in responses[2].headers


def test_rate_limit_headers_come_with_every_list_response(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """With headers=True, 200s and 429s say the limit, what is left and when."""
    sandbox.rate_limit = TokenBucket(
        rate=1.0, burst=2, headers=True, clock=SteppedClock()
    )

    responses = [list_enrollments(session, sandbox) for _ in range(3)]

    figures = [
        tuple(
            r.headers[f"RateLimit-{name}"] for name in ("Limit", "Remaining", "Reset")
        )
        for r in responses
    ]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert figures == [("2", "1", "0"), ("2", "0", "1"), ("2", "0", "1")]
    for response in responses:
        for name in ("Limit", "Remaining", "Reset"):
            assert (
                response.headers[f"X-RateLimit-{name}"]
                == response.headers[f"RateLimit-{name}"]
            )


def test_rate_limit_covers_both_lists_and_nothing_else(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Every list request takes a token; retrieving a record takes none."""
    sandbox.rate_limit = TokenBucket(rate=1.0, burst=2, clock=SteppedClock())

    statuses = [
        list_enrollments(session, sandbox).status_code,
        session.get(f"{sandbox.url}/v1/enrollments/1", timeout=TIMEOUT).status_code,
        list_reviews(session, sandbox).status_code,
        list_reviews(session, sandbox).status_code,
    ]

    assert statuses == [200, 200, 200, 429]


def test_rate_limited_request_reaches_no_hook_or_fault(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A refused request stops at the limiter: no hook runs, no fault is used."""
    sandbox.rate_limit = TokenBucket(rate=1.0, burst=1, clock=SteppedClock())
    pages: list[int] = []
    sandbox.on_list_request(lambda page, _number: pages.append(page))
    list_enrollments(session, sandbox, page=1)
    sandbox.faults.add(Fault.status(503))

    refused = list_enrollments(session, sandbox, page=2)

    assert refused.status_code == 429
    assert pages == [1]
    assert sandbox.faults.pending() == 1
    assert sandbox.list_request_count == 1
    assert [r.status for r in sandbox.requests] == [200, 429]


# Hooks


def test_list_request_hook_gets_page_and_request_number(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The hook sees each list request's page and running number."""
    calls: list[tuple[int, int]] = []
    sandbox.on_list_request(lambda page, number: calls.append((page, number)))

    for page in (1, 2, 3):
        list_enrollments(session, sandbox, page=page)

    assert calls == [(1, 1), (2, 2), (3, 3)]


def test_hook_changes_show_in_the_response_being_built(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Data changed by the hook shows in that very response (page drift)."""
    original = sandbox.store.ids_in_api_order()

    @sandbox.on_list_request
    def delete_newest_when_page_2_is_requested(page: int, _number: int) -> None:
        if page == 2:
            for enrollment_id in original[:5]:
                sandbox.store.delete(enrollment_id)

    first = list_enrollments(session, sandbox, limit=10, page=1).json()
    second = list_enrollments(session, sandbox, limit=10, page=2).json()

    assert [record["id"] for record in first["enrollments"]] == original[:10]
    # Records shifted up by 5: page 2 now skips five never-seen records.
    assert [record["id"] for record in second["enrollments"]] == original[15:25]
    assert second["pagination"]["total"] == SEEDED - 5


def test_failing_hook_answers_500_and_is_reported(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A hook that raises gets the request a 500 and is kept in hook_errors."""

    def broken(_page: int, _number: int) -> None:
        raise RuntimeError

    sandbox.on_list_request(broken)

    response = list_enrollments(session, sandbox)

    assert response.status_code == 500
    assert isinstance(sandbox.hook_errors[0], RuntimeError)


def test_list_request_hook_hears_only_its_list(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A hook for reviews hears review requests; the default one, enrollments."""
    heard: list[tuple[str, int, int]] = []
    sandbox.on_list_request(
        lambda page, number: heard.append(("enrollments", page, number))
    )
    sandbox.on_list_request(
        lambda page, number: heard.append(("reviews", page, number)), path="reviews"
    )

    list_reviews(session, sandbox, page=2)
    list_enrollments(session, sandbox, page=1)

    assert heard == [("reviews", 2, 1), ("enrollments", 1, 2)]


# Reviews


REVIEW_FIELDS = {"id", "contact_id", "rating", "body", "submitted_at", "edited_at"}


def test_reviews_list_has_the_shape_of_the_enrollments_list(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """`reviews` plus the same `pagination` object, with the same defaults."""
    total = len(sandbox.reviews)

    body = list_reviews(session, sandbox).json()

    assert set(body) == {"reviews", "pagination"}
    assert body["pagination"] == {
        "page": 1,
        "limit": 25,
        "total": total,
        "total_pages": -(-total // 25),
    }
    review = body["reviews"][0]
    assert set(review) == REVIEW_FIELDS
    assert isinstance(review["id"], int)
    assert review["rating"] in range(1, 6)
    assert TIMESTAMP.fullmatch(review["submitted_at"])
    assert review["submitted_at"] <= review["edited_at"]


def test_reviews_are_listed_newest_submitted_first_whatever_was_edited(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Editing a review changes edited_at, never the listing's order."""
    order = sandbox.reviews.ids_in_api_order()
    oldest = order[-1]

    edited = sandbox.reviews.update(oldest, rating=1)
    reviews = all_pages_of(session, sandbox, "reviews", limit=7)

    assert ids(reviews) == order
    keys = [(review["submitted_at"], review["id"]) for review in reviews]
    assert keys == sorted(keys, reverse=True)
    assert reviews[-1] == edited
    assert edited["edited_at"] > edited["submitted_at"]


def test_new_review_comes_first(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A review submitted now is the first of page 1, with the next id."""
    created = sandbox.reviews.create("cont_A", 5, "Great.")

    first = list_reviews(session, sandbox, limit=1).json()["reviews"]

    assert first == [created]
    assert created["id"] == len(sandbox.reviews)
    assert created["submitted_at"] == created["edited_at"]


def test_reviews_need_the_token(sandbox: SandboxServer) -> None:
    """The reviews list is behind the same bearer token."""
    response = requests.get(f"{sandbox.url}/v1/reviews", timeout=TIMEOUT)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "101"}, "limit must be an integer between 1 and 100"),
        ({"page": "0"}, "page must be a positive integer"),
    ],
)
def test_reviews_validate_page_and_limit_like_enrollments(
    sandbox: SandboxServer,
    session: requests.Session,
    params: dict[str, str],
    message: str,
) -> None:
    """Out-of-range page and limit get the same 400 as on enrollments."""
    response = list_reviews(session, sandbox, **params)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_reviews_accept_only_get(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The reviews list is read-only over HTTP."""
    response = session.post(f"{sandbox.url}/v1/reviews", timeout=TIMEOUT)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_limit_cap_applies_to_reviews_too(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The page-size cap is server-wide."""
    sandbox.faults.limit_cap = 10

    body = list_reviews(session, sandbox, limit=50).json()

    assert len(body["reviews"]) == 10
    assert body["pagination"]["limit"] == 10


def test_default_reviews_share_the_api_clock(sandbox: SandboxServer) -> None:
    """The default review store runs on the enrollments' clock."""
    sandbox.clock.offset_seconds = -30 * 86_400

    created = sandbox.reviews.create("cont_A", 4, "Fine.")

    expected = format_timestamp(datetime.now(timezone.utc) - timedelta(days=30))
    assert created["submitted_at"][:10] == expected[:10]


def test_review_seeding_is_deterministic_and_plausible() -> None:
    """Seeded reviews repeat per seed, follow submission order, rate 1 to 5."""
    reviews = ReviewStore.seeded(300, seed=4).all_records()

    assert ReviewStore.seeded(300, seed=4).all_records() == reviews
    assert ReviewStore.seeded(300, seed=5).all_records() != reviews
    assert ids(reviews) == list(range(300, 0, -1))
    assert {review["rating"] for review in reviews} == {1, 2, 3, 4, 5}
    assert any(r["edited_at"] > r["submitted_at"] for r in reviews)
    for review in reviews:
        assert set(review) == REVIEW_FIELDS
        assert review["submitted_at"] <= review["edited_at"]
        assert review["edited_at"] <= format_timestamp(SEED_TIME)


@pytest.mark.parametrize("rating", [0, 6, True, 4.5])
def test_review_rating_must_be_one_to_five(rating: Any) -> None:
    """create() refuses a rating that is not an integer from 1 to 5."""
    with pytest.raises(ValueError, match="rating"):
        ReviewStore().create("cont_A", rating, "Hm.")


def test_review_update_keeps_an_explicit_edited_at_and_delete_removes() -> None:
    """update() takes an explicit edited_at; delete() removes from the listing."""
    store = ReviewStore.seeded(5)

    store.update(2, body="Changed.", edited_at="2025-06-30T00:00:00Z")
    store.delete(3)

    assert store.get(2) == {
        **ReviewStore.seeded(5).get(2),  # type: ignore[dict-item]
        "body": "Changed.",
        "edited_at": "2025-06-30T00:00:00Z",
    }
    assert store.ids_in_api_order() == [5, 4, 2, 1]


# The store


def test_seeding_is_deterministic() -> None:
    """The same seed gives the same records; another seed, others."""
    first = EnrollmentStore.seeded(500, seed=7).all_records()

    assert EnrollmentStore.seeded(500, seed=7).all_records() == first
    assert EnrollmentStore.seeded(500, seed=8).all_records() != first


def test_seeded_records_look_like_the_api() -> None:
    """Seeded records have the documented fields and formats, before SEED_TIME."""
    records = EnrollmentStore.seeded(2000, campaigns=5).all_records()

    assert sorted(record["id"] for record in records) == list(range(1, 2001))
    assert len({record["campaign_id"] for record in records}) == 5
    for record in records:
        assert set(record) == FIELDS
        assert re.fullmatch(r"camp_[A-Za-z0-9]{17}", record["campaign_id"])
        assert re.fullmatch(r"cont_[A-Za-z0-9]{17}", record["contact_id"])
        for name in ("enrolled_at", "created_at", "updated_at"):
            assert TIMESTAMP.fullmatch(record[name])
        assert "2024-01-01" <= record["created_at"] <= record["updated_at"]
        assert record["updated_at"] <= format_timestamp(SEED_TIME)


def test_seeded_creation_times_increase_with_id() -> None:
    """Seeded ids follow creation order."""
    records = sorted(EnrollmentStore.seeded(2000).all_records(), key=lambda r: r["id"])

    created = [record["created_at"] for record in records]
    assert created == sorted(created)


def test_seeding_100_000_records() -> None:
    """A large store seeds, pages from the newest and has created_at ties."""
    store = EnrollmentStore.seeded(100_000)

    assert len(store) == 100_000
    page = store.page(page=1, limit=100)
    assert page.total == 100_000
    assert [record["id"] for record in json.loads(page.items_json)] == list(
        range(100_000, 99_900, -1)
    )
    created = Counter(record["created_at"] for record in store.all_records())
    assert max(created.values()) > 1  # ties on created_at happen


def test_page_json_matches_the_records() -> None:
    """A filtered page's cached JSON equals the records it stands for."""
    store = EnrollmentStore.seeded(50)

    page = store.page(page=2, limit=20, completed=True)

    completed = [record for record in store.all_records() if record["completed"]]
    assert json.loads(page.items_json) == completed[20:40]
    assert page.total == len(completed)


def test_create_uses_the_api_clock() -> None:
    """New records take the API clock's time and still sort correctly."""
    clock = Clock(offset_seconds=-600 * 86_400)
    store = EnrollmentStore.seeded(20, clock=clock)

    before = format_timestamp(clock.now())
    record = store.create("camp_A", "cont_B")
    after = format_timestamp(clock.now())

    assert before <= record["created_at"] <= after
    keys = [(r["created_at"], r["id"]) for r in store.all_records()]
    assert keys == sorted(keys, reverse=True)  # a clock behind still sorts right


def test_reenrolling_is_allowed_after_24_hours_of_api_time() -> None:
    """The 24-hour rule follows the API clock, per contact and campaign."""
    store = EnrollmentStore()
    store.create("camp_A", "cont_B")
    with pytest.raises(AlreadyEnrolled):
        store.create("camp_A", "cont_B")

    store.clock.offset_seconds = 25 * 3600

    assert store.create("camp_A", "cont_B")["id"] == 2
    assert store.create("camp_A", "cont_C")["id"] == 3


def test_update_sets_fields_and_updated_at_and_refreshes_listings() -> None:
    """update() sets fields and updated_at, and filtered listings follow."""
    store = EnrollmentStore.seeded(30)
    target = next(r for r in store.all_records() if not r["completed"])
    completed_before = store.page(page=1, limit=100, completed=True).total

    before = format_timestamp(store.clock.now())
    updated = store.update(target["id"], completed=True)

    assert updated["completed"] is True
    assert before <= updated["updated_at"] <= format_timestamp(store.clock.now())
    assert store.get(target["id"]) == updated
    assert store.page(page=1, limit=100, completed=True).total == completed_before + 1


def test_missing_ids_raise_key_error() -> None:
    """update() and delete() of a missing id raise KeyError; get() gives None."""
    store = EnrollmentStore.seeded(3)

    with pytest.raises(KeyError):
        store.update(4, completed=True)
    with pytest.raises(KeyError):
        store.delete(4)
    assert store.get(4) is None


def test_reloaded_store_lists_what_it_listed_before(
    session: requests.Session,
) -> None:
    """to_json() then from_json(): the API lists the same pages as before."""
    store = EnrollmentStore.seeded(70, seed=9)
    store.update(3, completed=True)
    store.delete(70)
    store.add("camp_A", "cont_B", created_at=store.get(60)["created_at"])  # type: ignore[index]
    with SandboxServer(store, token=TOKEN) as before:
        listed = all_pages(session, before, limit=9)
        filtered = all_pages(session, before, limit=9, completed="true")

    reloaded = EnrollmentStore.from_json(store.to_json())

    with SandboxServer(reloaded, token=TOKEN) as after:
        assert all_pages(session, after, limit=9) == listed
        assert all_pages(session, after, limit=9, completed="true") == filtered


def test_reloaded_store_keeps_the_next_id() -> None:
    """A deleted newest id is not given out again after a reload."""
    store = EnrollmentStore.seeded(10)
    store.delete(10)

    reloaded = EnrollmentStore.from_json(store.to_json())

    assert reloaded.create("camp_A", "cont_B")["id"] == 11


def test_save_then_load_round_trips_through_a_file(tmp_path: Path) -> None:
    """save() writes the file (creating its directory) and leaves no temp file."""
    store = ReviewStore.seeded(20)
    path = tmp_path / "output" / "reviews.json"

    store.save(path)
    store.save(path)  # over the existing file

    assert ReviewStore.load(path).all_records() == store.all_records()
    assert [child.name for child in path.parent.iterdir()] == ["reviews.json"]


def test_loading_another_list_or_broken_records_fails() -> None:
    """A saved review store is not an enrollment store; records need every field."""
    with pytest.raises(ValueError, match="enrollments"):
        EnrollmentStore.from_json(ReviewStore.seeded(3).to_json())
    broken = json.dumps({"list": "reviews", "next_id": 2, "records": [{"id": 1}]})
    with pytest.raises(ValueError, match="fields"):
        ReviewStore.from_json(broken)


# The command


def test_command_serves_until_sigterm() -> None:
    """The command prints a tap config, serves it, and exits 0 on SIGTERM."""
    command = [sys.executable, "-m", "reviewrover_sandbox", "--count", "5"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        config = json.loads(lines[-1])
        try:
            response = requests.get(
                f"{config['api_url']}/v1/enrollments",
                headers={"Authorization": f"Bearer {config['auth_token']}"},
                timeout=TIMEOUT,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=TIMEOUT)

    assert response.json()["pagination"]["total"] == 5
    assert config["auth_token"] == DEFAULT_TOKEN
    assert exit_code == 0


@contextlib.contextmanager
def sandbox_command(*arguments: str) -> Iterator[dict[str, str]]:
    """Run `python -m reviewrover_sandbox`; yield its tap config; SIGTERM it."""
    command = [sys.executable, "-m", "reviewrover_sandbox", *arguments]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        try:
            yield json.loads(lines[-1])
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=TIMEOUT) == 0


def every_enrollment(config: dict[str, str]) -> list[dict[str, Any]]:
    """Every enrollment a running sandbox command lists, page by page."""
    records: list[dict[str, Any]] = []
    with requests.Session() as http_session:
        http_session.headers["Authorization"] = f"Bearer {config['auth_token']}"
        page, total_pages = 1, 1
        while page <= total_pages:
            body = http_session.get(
                f"{config['api_url']}/v1/enrollments",
                params={"page": page, "limit": 100},
                timeout=TIMEOUT,
            ).json()
            records += body["enrollments"]
            total_pages = body["pagination"]["total_pages"]
            page += 1
    return records


def test_command_keeps_its_data_in_the_data_file(tmp_path: Path) -> None:
    """With --data-file, what a sandbox served is served again after a restart."""
    data_file = tmp_path / "output" / "sandbox-data.json"
    first_run = ("--count", "40", "--activity", "10", "--data-file", str(data_file))
    with sandbox_command(*first_run) as config:
        saved_at_start = EnrollmentStore.load(data_file).all_records()
        served_at_start = every_enrollment(config)
        requests.post(
            f"{config['api_url']}/v1/enrollments",
            data={"campaign_id": "camp_A", "contact_id": "cont_B"},
            headers={"Authorization": f"Bearer {config['auth_token']}"},
            timeout=TIMEOUT,
        )
        served_at_end = every_enrollment(config)

    with sandbox_command("--count", "5", "--data-file", str(data_file)) as config:
        served_after_restart = every_enrollment(config)

    assert saved_at_start == served_at_start  # saved after --activity
    assert len(served_at_end) == 40 + 10 // 5 + 1
    assert served_after_restart == served_at_end  # saved on shutdown


def test_command_limits_the_rate_when_asked() -> None:
    """--rate-limit, --rate-burst and --rate-limit-headers set up the bucket."""
    flags = ("--count", "5", "--rate-limit", "0.001", "--rate-burst", "1")
    with sandbox_command(*flags, "--rate-limit-headers") as config:
        url = f"{config['api_url']}/v1/enrollments"
        headers = {"Authorization": f"Bearer {config['auth_token']}"}
        responses = [
            requests.get(url, headers=headers, timeout=TIMEOUT) for _ in range(2)
        ]

    assert [r.status_code for r in responses] == [200, 429]
    assert responses[1].headers["RateLimit-Limit"] == "1"
    # One token every 1000 s on the real clock: 1000 s less the time between
    # the two requests (whole seconds, rounded up), however long that took.
    assert 900 <= int(responses[1].headers["Retry-After"]) <= 1000


# Clocks: the data clock, the Date clock, late-visible changes

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def standing_clock(offset_seconds: float = 0.0) -> Clock:
    """A clock that stands at START and moves only when its offset does."""
    return Clock(offset_seconds, source=lambda: START)


def standing_store(count: int = 30) -> EnrollmentStore:
    """Seeded enrollments on a standing clock."""
    return EnrollmentStore.seeded(count, clock=standing_clock())


def date_of(response: requests.Response) -> datetime:
    """The time in a response's Date header."""
    return parsedate_to_datetime(response.headers["Date"])


def enroll(
    session: requests.Session, sandbox: SandboxServer, contact_id: str
) -> dict[str, Any]:
    """Create an enrollment over HTTP; return the created record."""
    response = session.post(
        f"{sandbox.url}/v1/enrollments",
        data={"campaign_id": "camp_A", "contact_id": contact_id},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201
    return cast("dict[str, Any]", response.json())


def test_a_clock_with_a_source_moves_only_when_its_offset_does(
    session: requests.Session,
) -> None:
    """A standing clock stamps records and the Date header with its own time."""
    with SandboxServer(EnrollmentStore(standing_clock()), token=TOKEN) as sandbox:
        first = list_enrollments(session, sandbox)
        created = enroll(session, sandbox, "cont_A")
        sandbox.clock.offset_seconds += 61
        later = list_enrollments(session, sandbox)

    assert date_of(first) == START
    assert created["created_at"] == created["updated_at"] == "2026-03-01T12:00:00Z"
    assert date_of(later) == START + timedelta(seconds=61)


def test_the_date_clock_can_be_set_apart_from_the_data_clock(
    session: requests.Session,
) -> None:
    """Date runs 90 s ahead of the data, then agrees; a fast API clock moves both."""
    with SandboxServer(EnrollmentStore(standing_clock()), token=TOKEN) as sandbox:
        sandbox.date_clock = standing_clock(90)
        ahead = list_enrollments(session, sandbox)
        stamped_meanwhile = enroll(session, sandbox, "cont_A")
        sandbox.date_clock.offset_seconds = 0
        agreeing = list_enrollments(session, sandbox)
        sandbox.date_clock = None  # the Date header follows the data clock again
        sandbox.clock.offset_seconds = 120  # the whole API 120 s fast, one run
        fast = list_enrollments(session, sandbox)
        stamped_fast = enroll(session, sandbox, "cont_B")
        sandbox.clock.offset_seconds = 0  # corrected
        corrected = list_enrollments(session, sandbox)

    assert date_of(ahead) == START + timedelta(seconds=90)
    assert stamped_meanwhile["updated_at"] == "2026-03-01T12:00:00Z"
    assert date_of(agreeing) == START
    assert date_of(fast) == START + timedelta(seconds=120)
    assert stamped_fast["updated_at"] == "2026-03-01T12:02:00Z"
    assert date_of(corrected) == START


def test_a_late_update_shows_only_once_its_lag_has_passed(
    session: requests.Session,
) -> None:
    """An update stamped now is listed (and retrieved) as before until the lag ends."""
    store = EnrollmentStore.seeded(30, clock=standing_clock())
    target = store.all_records()[12]
    with SandboxServer(store, token=TOKEN) as sandbox:
        promised = store.update_late(
            target["id"], 120, completed=not target["completed"]
        )
        hidden = all_pages(session, sandbox, limit=100)
        retrieved = session.get(
            f"{sandbox.url}/v1/enrollments/{target['id']}", timeout=TIMEOUT
        )
        sandbox.clock.offset_seconds = 119
        still_hidden = all_pages(session, sandbox, limit=100)
        sandbox.clock.offset_seconds = 120
        shown = all_pages(session, sandbox, limit=100)

    assert promised["updated_at"] == "2026-03-01T12:00:00Z"
    assert promised["completed"] is not target["completed"]
    assert target in hidden
    assert retrieved.json() == target
    assert target in still_hidden
    assert promised in shown
    assert target not in shown
    assert store.late_changes == 0


# Ties: records created in the same second

TIE_PAGE = 10


def tie_store(count: int = 200, seed: int = 5) -> EnrollmentStore:
    """Enrollments, a third in tie groups, one group across every edge of 10."""
    ties = TieGroups(share=0.3, largest=4, page_size=TIE_PAGE)
    return EnrollmentStore.seeded(count, seed=seed, ties=ties)


def test_seeded_tie_groups_straddle_every_page_edge(
    session: requests.Session,
) -> None:
    """Each page's last record shares its second with the next page's first."""
    with SandboxServer(tie_store(), token=TOKEN) as sandbox:
        pages = [
            list_enrollments(session, sandbox, page=page, limit=TIE_PAGE).json()
            for page in range(1, 21)
        ]

    created = [[r["created_at"] for r in page["enrollments"]] for page in pages]
    assert all(len(page) == TIE_PAGE for page in created)
    assert all(
        earlier[-1] == later[0] for earlier, later in itertools.pairwise(created)
    )
    seconds = Counter(second for page in created for second in page)
    tied = sum(n for n in seconds.values() if n > 1)
    assert tied >= 0.3 * 200


def test_tie_seeding_is_deterministic_and_changes_only_creation_times() -> None:
    """The same seed gives the same ties; ids, campaigns, contacts stay as without."""
    plain = EnrollmentStore.seeded(200, seed=5).all_records()
    tied = tie_store().all_records()

    assert tie_store().all_records() == tied
    assert tie_store(seed=6).all_records() != tied
    assert [
        (r["id"], r["campaign_id"], r["contact_id"], r["completed"]) for r in tied
    ] == [(r["id"], r["campaign_id"], r["contact_id"], r["completed"]) for r in plain]
    assert [r["created_at"] for r in tied] != [r["created_at"] for r in plain]


def test_tie_groups_reject_values_out_of_range() -> None:
    """The share is 0 to 1, groups hold 2 or more, pages 1 or more."""
    with pytest.raises(ValueError, match="share"):
        TieGroups(share=1.5)
    with pytest.raises(ValueError, match="largest"):
        TieGroups(largest=1)
    with pytest.raises(ValueError, match="page_size"):
        TieGroups(page_size=0)


def test_reshuffled_ties_come_in_a_new_order_on_every_request(
    session: requests.Session,
) -> None:
    """The same page, asked again, orders its ties anew; nothing else moves."""
    with SandboxServer(tie_store(count=100), token=TOKEN) as sandbox:
        stable = list_enrollments(session, sandbox, limit=100).json()["enrollments"]
        sandbox.faults.tie_shuffle_seed = 1
        answers = [
            list_enrollments(session, sandbox, limit=100).json()["enrollments"]
            for _ in range(4)
        ]

    orders = {tuple(ids(answer)) for answer in answers}
    assert len(orders) == 4
    seconds = Counter(record["created_at"] for record in stable)
    for answer in answers:
        assert sorted(ids(answer)) == sorted(ids(stable))
        assert [r["created_at"] for r in answer] == [r["created_at"] for r in stable]
        for record, stable_record in zip(answer, stable, strict=True):
            if seconds[record["created_at"]] == 1:  # not a tie: same place
                assert record == stable_record


def test_reshuffled_ties_at_page_edges_repeat_and_skip_records(
    session: requests.Session,
) -> None:
    """Walking the pages, some record comes twice and another never; clear() ends it."""
    with SandboxServer(tie_store(), token=TOKEN) as sandbox:
        sandbox.faults.tie_shuffle_seed = 1
        walked = ids(all_pages(session, sandbox, limit=TIE_PAGE))
        sandbox.faults.clear()
        walked_after_clear = ids(all_pages(session, sandbox, limit=TIE_PAGE))

    assert len(walked) == 200
    assert max(Counter(walked).values()) > 1
    assert set(walked) != set(range(1, 201))
    assert walked_after_clear == list(range(200, 0, -1))


# Rate-limit headers on normal answers

RESET_AT = int(START.timestamp()) + 3600


@pytest.mark.parametrize(
    ("x_reset", "x_value"),
    [
        ("delay", "3600"),
        ("epoch", str(RESET_AT)),
        ("epoch_ms", str(RESET_AT * 1000)),
    ],
)
def test_rate_limit_header_fault_tells_the_reset_in_each_form(
    session: requests.Session,
    x_reset: Literal["delay", "epoch", "epoch_ms"],
    x_value: str,
) -> None:
    """Every answer says 0 left; X-RateLimit-Reset as a delay, epoch s or ms."""
    with SandboxServer(standing_store(), token=TOKEN) as sandbox:
        normal = all_pages(session, sandbox, limit=10)
        fault = Fault.rate_limit_headers(0, 3600, x_reset=x_reset)
        sandbox.faults.add(fault, times=None)
        answers = [
            list_enrollments(session, sandbox, page=page, limit=10)
            for page in (1, 2, 3)
        ]

    assert [r.json()["enrollments"] for r in answers] == [
        normal[0:10],
        normal[10:20],
        normal[20:30],
    ]
    for answer in answers:
        assert answer.headers["RateLimit-Remaining"] == "0"
        assert answer.headers["RateLimit-Reset"] == "3600"
        assert answer.headers["X-RateLimit-Remaining"] == "0"
        assert answer.headers["X-RateLimit-Reset"] == x_value


def test_rate_limit_headers_on_a_chosen_page_in_one_spelling(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Only page 2 carries them, and only the X- family when asked."""
    fault = Fault.rate_limit_headers(5, 30, spellings=("X-RateLimit",))
    sandbox.faults.add(fault, page=2, times=None)

    answers = {p: list_enrollments(session, sandbox, page=p) for p in (1, 2, 3)}

    assert answers[2].headers["X-RateLimit-Remaining"] == "5"
    assert answers[2].headers["X-RateLimit-Reset"] == "30"
    assert "RateLimit-Remaining" not in answers[2].headers
    for page in (1, 3):
        assert not any("ratelimit" in name.lower() for name in answers[page].headers)


def test_rate_limit_header_fault_refuses_unknown_forms() -> None:
    """Only the three reset forms and the two spellings exist."""
    with pytest.raises(ValueError, match="x_reset"):
        Fault.rate_limit_headers(0, 1, x_reset="iso")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spellings"):
        Fault.rate_limit_headers(0, 1, spellings=("Rate-Limit",))  # type: ignore[arg-type]


# Campaigns: deleted, and a filter the API ignores


def test_a_deleted_campaign_lists_as_404_campaign_not_found(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Its enrollments are gone and its list answers the API's 404; unknown ids 200."""
    campaign = sandbox.store.all_records()[0]["campaign_id"]
    enrolled = [r for r in sandbox.store.all_records() if r["campaign_id"] == campaign]

    removed = sandbox.store.delete_campaign(campaign)
    deleted = list_enrollments(session, sandbox, campaign_id=campaign)
    unknown = list_enrollments(session, sandbox, campaign_id="camp_neverExisted00")
    everything = all_pages(session, sandbox, limit=100)

    assert removed == len(enrolled) > 0
    assert deleted.status_code == 404
    assert deleted.json() == {
        "error": {"type": "not_found", "message": "Campaign not found"}
    }
    assert unknown.status_code == 200
    assert unknown.json()["enrollments"] == []
    assert len(everything) == SEEDED - len(enrolled)
    assert campaign not in {record["campaign_id"] for record in everything}
    assert sandbox.store.deleted_campaign_ids == {campaign}


def test_ignored_campaign_filter_answers_every_campaign_until_cleared(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The filter is dropped (others still apply); clear() restores it."""
    campaign = sandbox.store.all_records()[0]["campaign_id"]
    sandbox.faults.ignore_campaign_filter = True

    ignored = all_pages(session, sandbox, campaign_id=campaign, limit=100)
    still_completed = all_pages(
        session, sandbox, campaign_id=campaign, completed="true", limit=100
    )
    sandbox.faults.clear()
    honoured = all_pages(session, sandbox, campaign_id=campaign, limit=100)

    assert ignored == sandbox.store.all_records()
    assert len({record["campaign_id"] for record in ignored}) > 1
    assert still_completed == [r for r in ignored if r["completed"]]
    assert honoured
    assert {record["campaign_id"] for record in honoured} == {campaign}


# Gzip: honest on request, and a bomb

MIB = 2**20


def expanded_size(compressed: bytes, prefix: bytes) -> int:
    """Decompress a gzip body a megabyte at a time: `prefix`, then only spaces."""
    decompressor = zlib.decompressobj(wbits=31)
    size, pending = 0, compressed
    while pending:
        piece = decompressor.decompress(pending, MIB)
        pending = decompressor.unconsumed_tail
        if size == 0:  # the first megabyte starts with the prefix
            assert piece.startswith(prefix)
            piece, size = piece[len(prefix) :], len(prefix)
        assert not piece.strip(b" ")
        size += len(piece)
    assert decompressor.eof  # the whole member, its CRC and length checked
    return size


def test_gzip_bomb_fault_sends_a_small_body_that_expands_hugely(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """64 MiB expanded travel in under 128 KiB, the normal answer first."""
    normal = list_enrollments(session, sandbox, page=2).content
    sandbox.faults.add(Fault.gzip_bomb(64 * MIB))

    with session.get(
        f"{sandbox.url}/v1/enrollments",
        params={"page": 2},
        stream=True,
        timeout=TIMEOUT,
    ) as response:
        compressed = response.raw.read(decode_content=False)

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) == len(compressed) < 128 * 1024
    assert expanded_size(compressed, normal) == 64 * MIB


def test_gzip_bomb_expands_to_the_normal_answer_padded_with_spaces(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """A client that decompresses it all reads valid JSON: the normal page."""
    normal = list_enrollments(session, sandbox).json()
    sandbox.faults.add(Fault.gzip_bomb(2 * MIB))

    bombed = list_enrollments(session, sandbox)

    assert len(bombed.content) == 2 * MIB
    assert bombed.json() == normal


def test_gzip_bomb_is_built_without_the_expanded_data_in_memory() -> None:
    """A 1 GiB bomb needs a few MiB of memory and is about a thousandth its size."""
    tracemalloc.start()
    try:
        bomb = gzip_bomb(b'{"enrollments":[]}', 1024 * MIB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert len(bomb) < 2 * MIB
    assert peak < 16 * MIB


def test_gzip_responses_are_opt_in_and_follow_accept_encoding(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Off by default; on, gzip only for a client that accepts it; same JSON."""
    plain = list_enrollments(session, sandbox)
    sandbox.gzip_responses = True
    with session.get(
        f"{sandbox.url}/v1/enrollments", stream=True, timeout=TIMEOUT
    ) as response:
        compressed = response.raw.read(decode_content=False)
    identity = session.get(
        f"{sandbox.url}/v1/enrollments",
        headers={"Accept-Encoding": "identity"},
        timeout=TIMEOUT,
    )
    gzipped = list_enrollments(session, sandbox)

    assert "gzip" in session.headers["Accept-Encoding"]
    assert "Content-Encoding" not in plain.headers
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert int(response.headers["Content-Length"]) == len(compressed)
    assert zlib.decompress(compressed, wbits=31) == plain.content
    assert gzipped.json() == plain.json()
    assert "Content-Encoding" not in identity.headers
    assert identity.content == plain.content


@pytest.mark.parametrize(
    ("accept_encoding", "accepted"),
    [
        ("gzip, deflate", True),
        ("br, GZIP;q=0.5", True),
        ("*", True),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_decides_gzip(
    accept_encoding: str,
    accepted: bool,  # noqa: FBT001
) -> None:
    assert accepts_gzip(accept_encoding) is accepted


# HTTPS: a private CA, and a certificate nobody trusts


def insecure_context() -> ssl.SSLContext:
    """A client context that checks nothing, to see what the server sends."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_https_with_a_private_ca_is_trusted_through_requests_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused without the CA; with REQUESTS_CA_BUNDLE, 127.0.0.1 and localhost work."""
    tls = SandboxTls.private_ca(tmp_path)
    store = EnrollmentStore.seeded(SEEDED)
    with SandboxServer(store, token=TOKEN, tls=tls) as sandbox, requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        url = f"{sandbox.url}/v1/enrollments"
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY"):
            s.get(url, timeout=TIMEOUT)
        assert sandbox.ca_bundle is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_bundle))
        by_address = s.get(url, timeout=TIMEOUT)
        by_name = s.get(url.replace("127.0.0.1", "localhost"), timeout=TIMEOUT)

    assert sandbox.url.startswith("https://127.0.0.1:")
    assert sandbox.ca_bundle == tmp_path / "sandbox-ca.pem"
    assert by_address.status_code == by_name.status_code == 200
    assert by_address.json()["pagination"]["total"] == SEEDED


def test_a_certificate_for_another_name_fails_the_hostname_check(
    tmp_path: Path,
) -> None:
    """A trusted CA, but the certificate names another host."""
    tls = SandboxTls.private_ca(tmp_path, hostnames=("api.example.invalid",))
    with SandboxServer(EnrollmentStore(), token=TOKEN, tls=tls) as sandbox:
        bundle = str(sandbox.ca_bundle)
        with pytest.raises(requests.exceptions.SSLError, match="match"):
            requests.get(sandbox.url, verify=bundle, timeout=TIMEOUT)


def test_an_untrusted_certificate_is_refused_and_the_server_stays_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """No bundle trusts it, not even another private CA's; the refusal logs nothing."""
    other_ca = SandboxTls.private_ca(tmp_path).ca_bundle
    tls = SandboxTls.untrusted()
    with SandboxServer(EnrollmentStore.seeded(5), token=TOKEN, tls=tls) as sandbox:
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sandbox.url, verify=str(other_ca), timeout=TIMEOUT)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sandbox.url, timeout=TIMEOUT)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", sandbox.port, timeout=TIMEOUT, context=insecure_context()
        )
        try:
            connection.request(
                "GET",
                "/api/v1/enrollments",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            unchecked = connection.getresponse()
            body = json.loads(unchecked.read())
        finally:
            connection.close()

    assert sandbox.ca_bundle is None
    assert unchecked.status == 200
    assert body["pagination"]["total"] == 5
    assert "Traceback" not in capfd.readouterr().err


# A forwarding proxy


def through_proxy_only(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set proxy variables, with no NO_PROXY or lower-case ones in the way."""
    for name in ("NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_proxy_forwards_plain_http_when_http_proxy_says_so(
    sandbox: SandboxServer,
    session: requests.Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the variable nothing goes through; with it, each request, counted."""
    with ForwardProxy() as proxy:
        through_proxy_only(monkeypatch)
        direct = list_enrollments(session, sandbox, page=2)
        counted_before = proxy.request_count
        through_proxy_only(monkeypatch, HTTP_PROXY=proxy.url)
        proxied = list_enrollments(session, sandbox, page=2)

    assert counted_before == 0
    assert proxied.status_code == 200
    assert proxied.json() == direct.json()
    assert proxied.headers["Date"]
    assert proxy.requests == [
        ProxiedRequest("GET", f"{sandbox.url}/v1/enrollments?page=2")
    ]
    assert sandbox.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_proxy_tunnels_https_with_connect(
    https_sandbox: SandboxServer,
    forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY: one CONNECT to the sandbox, its requests inside the tunnel."""
    through_proxy_only(monkeypatch, HTTPS_PROXY=forward_proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_sandbox.ca_bundle))
    with requests.Session() as own_session:
        own_session.headers["Authorization"] = f"Bearer {https_sandbox.token}"
        pages = [
            list_enrollments(own_session, https_sandbox, page=page, limit=10)
            for page in (1, 2, 3)
        ]

    assert [response.status_code for response in pages] == [200, 200, 200]
    assert forward_proxy.requests == [
        ProxiedRequest("CONNECT", f"127.0.0.1:{https_sandbox.port}")
    ]
    assert [r.query["page"] for r in https_sandbox.requests] == ["1", "2", "3"]


def proxy_connect(proxy: ForwardProxy, target: str) -> bytes:
    """Send CONNECT to the proxy on a raw connection; return the answer's head."""
    address = ("127.0.0.1", proxy.port)
    with socket.create_connection(address, timeout=TIMEOUT) as connection:
        connection.sendall(
            f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
        )
        return receive_until(connection, b"\r\n\r\n")


def test_proxy_answers_403_off_this_machine_and_502_for_a_dead_origin() -> None:
    """It never leaves loopback; an origin that is not there is a bad gateway."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]
    with ForwardProxy() as proxy:
        proxies = {"http": proxy.url}
        elsewhere = requests.get(
            "http://example.invalid/", proxies=proxies, timeout=TIMEOUT
        )
        dead = requests.get(
            f"http://127.0.0.1:{dead_port}/", proxies=proxies, timeout=TIMEOUT
        )
        tunnel_elsewhere = proxy_connect(proxy, "example.invalid:443")
        tunnel_to_dead = proxy_connect(proxy, f"127.0.0.1:{dead_port}")
        tunnel_without_port = proxy_connect(proxy, "127.0.0.1:https")

    assert elsewhere.status_code == 403
    assert dead.status_code == 502
    assert tunnel_elsewhere.startswith(b"HTTP/1.1 403 ")
    assert tunnel_to_dead.startswith(b"HTTP/1.1 502 ")
    assert tunnel_without_port.startswith(b"HTTP/1.1 400 ")
    assert proxy.request_count == 5


# Issue 13's smaller cases, with the faults that already exist


@pytest.mark.parametrize("retry_after", [None, "1"])
def test_status_408_with_or_without_retry_after(
    sandbox: SandboxServer, session: requests.Session, retry_after: str | None
) -> None:
    """A request timeout, then the next request is answered normally."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    sandbox.faults.add(Fault.status(408, headers=headers))

    timed_out = list_enrollments(session, sandbox)
    next_one = list_enrollments(session, sandbox)

    assert timed_out.status_code == 408
    assert timed_out.headers.get("Retry-After") == retry_after
    assert timed_out.json()["error"]["message"] == "Request Timeout"
    assert next_one.status_code == 200


def test_a_304_on_a_list_has_no_body_and_the_connection_goes_on(
    sandbox: SandboxServer,
) -> None:
    """No Content-Type, no Content-Length, no bytes: the next answer reads cleanly."""
    sandbox.faults.add(Fault.raw(304, b"", content_type=None))
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=TIMEOUT)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        connection.request("GET", "/api/v1/enrollments", headers=headers)
        not_modified = connection.getresponse()
        empty = not_modified.read()
        connection.request("GET", "/api/v1/enrollments?page=2", headers=headers)
        following = connection.getresponse()
        page = json.loads(following.read())
    finally:
        connection.close()

    assert not_modified.status == 304
    assert empty == b""
    assert not_modified.getheader("Content-Length") is None
    assert not_modified.getheader("Content-Type") is None
    assert following.status == 200
    assert page["pagination"]["page"] == 2


def first_record(**fields: Any) -> Callable[[list[dict[str, Any]]], list[Any]]:
    """A records transform that changes fields of the page's first record."""
    return lambda records: [{**records[0], **fields}, *records[1:]]


@pytest.mark.parametrize(
    ("transform", "raw_text"),
    [
        (first_record(contact_id="\ud800"), rb'"contact_id":"\ud800"'),
        (first_record(updated_at="2016-12-31T23:59:60Z"), b'"2016-12-31T23:59:60Z"'),
        (first_record(contact_id="cont_\x00nul"), rb'"contact_id":"cont_\u0000nul"'),
        (first_record(id=2**63), b'{"id":9223372036854775808,'),
    ],
    ids=["lone-surrogate", "leap-second", "nul", "id-2**63"],
)
def test_records_fault_sends_values_a_target_may_refuse(
    sandbox: SandboxServer,
    session: requests.Session,
    transform: Callable[[list[dict[str, Any]]], list[Any]],
    raw_text: bytes,
) -> None:
    """The value arrives exactly so in the JSON text; the other records are intact."""
    normal = list_enrollments(session, sandbox).json()["enrollments"]
    sandbox.faults.add(Fault.records(transform))

    answer = list_enrollments(session, sandbox)

    assert raw_text in answer.content
    assert answer.json()["enrollments"][1:] == normal[1:]


def test_records_fault_sends_an_id_twice_in_one_page(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """The page keeps its length; its second record is lost behind the first's copy."""
    sandbox.faults.add(Fault.records(lambda rs: [rs[0], rs[0], *rs[2:]]))

    page = list_enrollments(session, sandbox).json()

    page_ids = ids(page["enrollments"])
    assert len(page_ids) == 25
    assert page_ids[0] == page_ids[1]
    assert len(set(page_ids)) == 24
    assert page["pagination"]["total"] == SEEDED


def test_records_fault_sends_a_stale_copy_on_a_later_page(
    sandbox: SandboxServer, session: requests.Session
) -> None:
    """Page 2 ends with an older version of a record page 1 already served."""
    fresh = sandbox.store.all_records()[0]
    stale = {
        **fresh,
        "completed": not fresh["completed"],
        "updated_at": "2024-01-01T00:00:00Z",
    }
    sandbox.faults.add(Fault.records(lambda rs: [*rs[:-1], stale]), page=2)

    walked = all_pages(session, sandbox)

    copies = [record for record in walked if record["id"] == fresh["id"]]
    assert copies == [fresh, stale]
    assert walked.index(fresh) < 25 <= walked.index(stale)
    assert stale["updated_at"] < fresh["updated_at"]
