"""The token never shows: not in errors that quote the API, not in any log line.

Every test here also runs under the ``no_token_anywhere`` fixture, which fails a
test whose logs or output show the token.
"""

from __future__ import annotations

import logging
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.errors import ReviewRoverError
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import TOKEN, failed_sync, run_cli, sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (401, "ReviewRover rejected the API token (HTTP 401: token ***"),
        (403, "ReviewRover rejected the API token (HTTP 403: token ***"),
        (400, "ReviewRover refused the request (HTTP 400: token ***"),
        (500, "Gave up on page 2"),
        (429, "Gave up on page 2"),
    ],
)
def test_an_error_body_that_quotes_the_token_is_redacted(
    sandbox: SandboxServer,
    tmp_path: Path,
    code: int,
    problem: str,
) -> None:
    sandbox.faults.add(Fault.echo(code), page=2, times=None)
    run = run_cli(tmp_path, tap_config(sandbox, max_retries=1))
    assert run.returncode == 1
    assert problem in run.stderr
    assert TOKEN not in run.stdout + run.stderr
    assert "Bearer" not in run.stderr


def test_each_retry_is_one_line_and_backoff_says_nothing_of_its_own(
    sandbox: SandboxServer,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults.add(Fault.echo(503), page=2, times=2)
    output = sync(tap_config(sandbox, max_concurrent_requests=1))
    assert len(output.records) == len(sandbox.store)
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == len(waits) == 2
    assert all("token ***" in r.getMessage() for r in retries)
    assert "Backing off" not in caplog.text
    assert "Giving up" not in caplog.text


def test_backoff_says_nothing_when_it_gives_up(
    sandbox: SandboxServer,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.add(Fault.status(503), times=None)
    _, error = failed_sync(tap_config(sandbox, max_retries=1))
    assert "Gave up on page 1 of " in str(error)
    assert "after 2 tries" in str(error)
    assert len(waits) == 1
    assert "Giving up" not in caplog.text


def test_a_token_read_from_a_secret_file_with_a_newline_works(
    sandbox: SandboxServer,
) -> None:
    output = sync(tap_config(sandbox, auth_token=TOKEN + "\n"))
    assert len(output.records) == len(sandbox.store)
    assert {r.headers["Authorization"] for r in sandbox.requests} == {f"Bearer {TOKEN}"}


def test_a_bad_token_is_named_without_showing_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = run_cli(tmp_path, tap_config(sandbox, auth_token=TOKEN + "\nX-Other: 1"))
    assert run.returncode == 1
    assert "auth_token contains control characters" in run.stderr
    assert "Traceback" not in run.stderr


def test_user_info_in_the_api_url_is_refused_without_printing_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    password = "hunter2-password"  # noqa: S105 - the value that must not show
    url = sandbox.url.replace("http://", f"http://loader:{password}@")
    run = run_cli(tmp_path, tap_config(sandbox, api_url=url))
    assert run.returncode == 1
    assert "must not contain a user name or password" in run.stderr
    assert password not in run.stdout + run.stderr
    assert sandbox.list_request_count == 0


def test_any_log_line_with_the_token_is_redacted_at_the_logging_layer(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tap = TapReviewRover(config=tap_config(sandbox), parse_env_config=False)
    # A careless future message, in any logger, with the token in any form.
    for logger in (tap.logger, logging.getLogger("urllib3.connectionpool")):
        logger.warning("sending Authorization: Bearer %s", TOKEN)
        logger.warning("token=%r", TOKEN)
    try:
        msg = f"boom {TOKEN}"
        raise ReviewRoverError(msg)  # noqa: TRY301 - logged with its traceback
    except ReviewRoverError:
        tap.logger.exception("failed")
    assert TOKEN not in caplog.text
    assert caplog.text.count("***") >= 4
