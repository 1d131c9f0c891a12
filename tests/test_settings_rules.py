"""Settings checks beyond JSON Schema, and secret redaction."""

from __future__ import annotations

import pytest

from tap_reviewrover.config_checks import (
    api_url_problem,
    catalog_problem,
    is_placeholder_token,
    settings_errors,
    unknown_settings,
)
from tap_reviewrover.redaction import SecretRedactor


@pytest.mark.parametrize(
    "url",
    [
        "https://dashboard.reviewrover.co/api",
        "https://dashboard.reviewrover.co/api/",
        "http://127.0.0.1:8080/api",
        "http://localhost:8080/api",
        "http://127.5.6.7/api",
        "http://[::1]:9000/api",
    ],
)
def test_https_and_loopback_http_urls_are_accepted(url: str) -> None:
    assert api_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://dashboard.reviewrover.co/api", "unencrypted"),
        ("http://10.0.0.5/api", "unencrypted"),
        ("http://localhost.evil.example/api", "unencrypted"),
        ("ftp://dashboard.reviewrover.co/api", "must be an https:// URL"),
        ("dashboard.reviewrover.co/api", "must be an https:// URL"),
        ("https://", "must be an https:// URL"),
        # urlsplit sees host 127.0.0.1 here; requests (urllib3) connects to
        # evil.example, over plain http, which is what the check must see.
        ("http://evil.example\\@127.0.0.1:8080/api", "must be an https:// URL"),
        ("http://evil.example%5C@127.0.0.1:8080/api", "user name or password"),
        ("http://user:secret@127.0.0.1:8080/api", "user name or password"),
        ("https://user@dashboard.reviewrover.co/api", "user name or password"),
        ("http://127.0.0.1:99999/api", "must be an https:// URL"),
        ("http://127.0.0.1:8080/api with space", "must be an https:// URL"),
        ("http://localhost\\.evil.example/api", "must be an https:// URL"),
    ],
)
def test_other_urls_are_refused_with_a_reason(url: str, problem: str) -> None:
    assert problem in (api_url_problem(url) or "")


def test_a_refused_url_with_a_password_never_shows_the_password() -> None:
    problem = api_url_problem("http://loader:s3cret-pw@127.0.0.1:8080/api")
    assert problem is not None
    assert "s3cret-pw" not in problem


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"start_date": "02/10/2025"}, "start_date must be an ISO 8601 date"),
        ({"start_date": "2025-02-30"}, "start_date must be an ISO 8601 date"),
        # Text Meltano would once have turned into a date: refused as typed.
        ({"start_date": "yesterday"}, "start_date must be an ISO 8601 date"),
        ({"end_date": "2025-13-01"}, "end_date must be an ISO 8601 date"),
        (
            {"start_date": "2025-02-10", "end_date": "2025-02-10T00:00:00Z"},
            "end_date (2025-02-10T00:00:00Z) must be later than start_date",
        ),
        (
            {"start_date": "2025-03-01", "end_date": "2025-02-01"},
            "must be later than start_date",
        ),
        (
            {"auth_token": "YOUR_REVIEWROVER_API_TOKEN"},
            "auth_token is a placeholder (as in sample_config.json)",
        ),
        ({"campaign_ids": ["a", "b", "a"]}, "same campaign more than once"),
        ({"api_url": "http://example.com/api"}, "api_url must use https://"),
        ({"api_url": "https://example.com/api?key=x"}, "without a query"),
        ({"api_url": "https://example.com/api#top"}, "without a query"),
        ({"api_url": "https://example.com/api?"}, "without a query"),
        ({"auth_token": "5"}, "is 1 character long"),
        ({"auth_token": "password"}, "is 8 characters long"),
    ],
)
def test_settings_errors_name_the_setting(
    config: dict[str, object], problem: str
) -> None:
    errors = settings_errors(config)
    assert len(errors) == 1
    assert problem in errors[0]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"start_date": "2025-02-10"},
        {"start_date": "2025-02-10T00:00:00Z", "campaign_ids": ["a", "b"]},
        {"start_date": "2025-02-10", "end_date": "2025-02-10T00:00:01Z"},
        {"end_date": "2025-02-10"},
        {"auth_token": "rr_live_9f8e7d6c5b4a"},
    ],
)
def test_good_settings_have_no_errors(config: dict[str, object]) -> None:
    assert settings_errors(config) == []


def test_redact_hides_the_secret_and_its_repr() -> None:
    message = "'s3cr3t-token' is too long; value s3cr3t-token"
    redactor = SecretRedactor(["s3cr3t-token", None, ""])
    assert redactor.redact(message) == "'***' is too long; value ***"


def test_a_token_too_short_to_be_real_is_never_learnt_by_the_redactor() -> None:
    # Redacting "5" or "token" everywhere would mangle ordinary lines.
    redactor = SecretRedactor(["5", "token", "rr-test-token-5f1d2c9a7b"])
    assert redactor.redact("5 records; token rr-test-token-5f1d2c9a7b") == (
        "5 records; token ***"
    )


def test_an_unknown_setting_is_warned_about_with_the_likely_name() -> None:
    schema: dict[str, dict[str, object]] = {
        "properties": {"page_size": {}, "api_url": {}}
    }
    assert unknown_settings({"pagesize": 50, "api_url": "x"}, schema) == [
        "Unknown setting 'pagesize' is ignored. Did you mean 'page_size'?"
    ]
    assert unknown_settings({"colour": "red"}, schema) == [
        "Unknown setting 'colour' is ignored."
    ]


DECLARED = (("id",), "updated_at")
ALL_FIELDS = ("id", "campaign_id", "completed", "created_at", "updated_at")


@pytest.mark.parametrize(
    ("fields", "keys", "problem"),
    [
        (ALL_FIELDS, DECLARED, None),
        (("id", "created_at", "updated_at"), DECLARED, None),  # others deselected
        (ALL_FIELDS[:-1], DECLARED, "lacks updated_at (the replication key)"),
        (ALL_FIELDS[1:], DECLARED, "lacks id (the key of every record)"),
        (("id", "updated_at"), DECLARED, "lacks created_at (the order of the list)"),
        ((), DECLARED, "lacks id (the key of every record), created_at"),
        (ALL_FIELDS, (("id",), "created_at"), "the replication key 'created_at'"),
        (ALL_FIELDS, (("id",), None), "the replication key None"),
        (ALL_FIELDS, ((), "updated_at"), "the key properties []"),
        (ALL_FIELDS, (("campaign_id",), "updated_at"), "['campaign_id']"),
    ],
)
def test_a_catalog_keeps_what_the_walk_needs(
    fields: tuple[str, ...],
    keys: tuple[tuple[str, ...], str | None],
    problem: str | None,
) -> None:
    found = catalog_problem(
        "enrollments",
        fields=fields,
        created_key="created_at",
        keys=keys,
        declared=DECLARED,
    )
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("token", "placeholder"),
    [
        ("YOUR_REVIEWROVER_API_TOKEN", True),
        ("your-token-here", True),
        ("<token>", True),
        ("{token}", True),  # as the API docs write it
        ("...", True),
        ("rr_live_9f8e7d6c5b4a", False),
        ("sandbox-token", False),
        ("yourself", False),
        ("", False),  # empty has its own message
    ],
)
def test_placeholder_tokens_are_recognised(token: str, placeholder: bool) -> None:  # noqa: FBT001
    assert is_placeholder_token(token) is placeholder
