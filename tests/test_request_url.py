"""Each page's URL, built cheaply, is the one ``requests`` would build.

The requester encodes only the query per page (:func:`request_url`); a URL that
differed from ``requests``' own would ask the API for something else.
"""

from __future__ import annotations

import typing as t

import pytest
import requests

from tap_reviewrover.session import request_url

BASES = [
    "https://dashboard.reviewrover.co/api/v1/enrollments",
    "http://127.0.0.1:8080/api/v1/enrollments",
    "https://dashboard.reviewrover.co/api/v1/enrollments/123",
    "https://BÜCHER.example/api v1/enrollments",  # IDNA host, a space in the path
    "https://example.com/a%2Fb/~user/v1/enrollments",
]
PARAMS: list[dict[str, t.Any]] = [
    {},
    {"page": 1, "limit": 100},
    {"page": 7, "limit": 3, "campaign_id": "camp_Kd93lftgZXGRbxqoj"},
    {"page": 2, "limit": 50, "completed": "false"},
    {"campaign_id": "a b&c=d/é~!*'()", "page": 1, "limit": 1},
    {"page": 1, "limit": 10, "skipped": None},
    {"page": 1, "ids": [3, 4], "flag": True},
]


def requests_url(base: str, params: dict[str, t.Any]) -> str:
    prepared = requests.PreparedRequest()
    prepared.prepare_url(base, params)
    return t.cast("str", prepared.url)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(p) or "none")
def test_the_url_is_the_one_requests_builds(
    base: str, params: dict[str, t.Any]
) -> None:
    assert request_url(base, params) == requests_url(base, params)


def test_only_the_query_changes_from_page_to_page() -> None:
    base = BASES[0]
    assert request_url(base, {"page": 1}) == f"{base}?page=1"
    assert request_url(base, {"page": 2}) == f"{base}?page=2"
