"""Tests of the local ReviewRover sandbox API, mostly over real HTTP."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests
from reviewrover_sandbox import (
    DEFAULT_TOKEN,
    SEED_TIME,
    AlreadyEnrolled,
    Clock,
    EnrollmentStore,
    Fault,
    SandboxServer,
    format_timestamp,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

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


def all_pages(
    session: requests.Session, sandbox: SandboxServer, **params: Any
) -> list[dict[str, Any]]:
    """Fetch every page of a listing, in order."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        body = list_enrollments(session, sandbox, page=page, **params).json()
        records += body["enrollments"]
        if page >= body["pagination"]["total_pages"]:
            return records
        page += 1


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
    sandbox.faults.add(Fault.slow(0.3))

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
