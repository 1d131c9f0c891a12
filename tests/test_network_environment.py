"""The environment as ``requests`` users expect it: CA bundles, proxies, no netrc.

And the ways the network fails, each told apart in one line: a certificate that
is not trusted (never retried), a host name that does not resolve, a proxy that
is not there.
"""

from __future__ import annotations

import typing as t

import pytest
from reviewrover_sandbox import EnrollmentStore, ForwardProxy, SandboxServer, SandboxTls

from tap_reviewrover.errors import ConnectionFailedError, RetriesExhaustedError
from tests.conftest import (
    SEEDED,
    TOKEN,
    attempt_sync,
    logged_at,
    run_cli,
    sync,
    tap_config,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Every variable of the environment that sends requests elsewhere or changes
#: what is trusted; each test sets the ones it is about.
NETWORK_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "no_proxy",
    "NETRC",
)
#: A host name that never resolves (RFC 6761).
UNRESOLVABLE_URL = "https://api.reviewrover.invalid/api"


@pytest.fixture(autouse=True)
def plain_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from an environment with none of the network variables."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dead_proxy_url() -> str:
    """The URL of a proxy that was there and is no longer listening."""
    with ForwardProxy() as proxy:
        pass
    return proxy.url


@pytest.fixture
def untrusted_sandbox() -> Iterator[SandboxServer]:
    """The sandbox over HTTPS with a certificate from a CA nobody has."""
    store = EnrollmentStore.seeded(SEEDED)
    with SandboxServer(store, token=TOKEN, tls=SandboxTls.untrusted()) as server:
        yield server


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_private_ca_is_trusted_through_the_ca_bundle_variable(
    https_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, str(https_sandbox.ca_bundle))
    output = sync(tap_config(https_sandbox))
    assert output.records == https_sandbox.store.all_records()
    assert output.bookmark is not None


def test_without_the_ca_bundle_the_private_ca_is_one_line_and_no_retry(
    https_sandbox: SandboxServer, waits: list[float]
) -> None:
    output, error = attempt_sync(tap_config(https_sandbox))
    assert isinstance(error, ConnectionFailedError)
    message = str(error)
    assert f"Could not request page 1 of {https_sandbox.url}" in message
    assert "TLS certificate" in message
    assert "is not trusted" in message
    assert "REQUESTS_CA_BUNDLE" in message
    assert waits == []
    assert output.records == []


def test_an_untrusted_certificate_is_tried_once(
    untrusted_sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    forward_proxy: ForwardProxy,
    waits: list[float],
) -> None:
    # Through a proxy, every try opens a tunnel of its own: the proxy counts them.
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    _, error = attempt_sync(tap_config(untrusted_sandbox, max_retries=5))
    assert isinstance(error, ConnectionFailedError)
    assert "TLS certificate" in str(error)
    assert waits == []
    assert [r.method for r in forward_proxy.requests] == ["CONNECT"]


def test_https_proxy_carries_every_request(
    https_sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    forward_proxy: ForwardProxy,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_sandbox.ca_bundle))
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    output = sync(tap_config(https_sandbox))
    assert output.records == https_sandbox.store.all_records()
    tunnels = forward_proxy.requests
    assert tunnels
    assert {(r.method, r.target) for r in tunnels} == {
        ("CONNECT", f"127.0.0.1:{https_sandbox.port}")
    }


def test_http_proxy_carries_every_request(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    forward_proxy: ForwardProxy,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    proxied = [r for r in forward_proxy.requests if r.method == "GET"]
    assert len(proxied) == sandbox.list_request_count == 10
    assert all(r.target.startswith(f"{sandbox.url}/v1/enrollments?") for r in proxied)


def test_no_proxy_sends_the_listed_hosts_around_the_proxy(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    forward_proxy: ForwardProxy,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    assert forward_proxy.request_count == 0


def test_a_netrc_entry_for_the_api_host_never_replaces_the_token(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login loader password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    assert {r.headers.get("Authorization") for r in sandbox.requests} == {
        f"Bearer {TOKEN}"
    }


def test_a_host_name_that_does_not_resolve_is_named(waits: list[float]) -> None:
    _, error = attempt_sync(
        {"api_url": UNRESOLVABLE_URL, "auth_token": TOKEN, "max_retries": 1}
    )
    assert isinstance(error, RetriesExhaustedError)
    message = str(error)
    assert "the host name api.reviewrover.invalid could not be resolved (DNS)" in (
        message
    )
    assert "nothing is listening" not in message
    assert "proxy" not in message
    assert len(waits) == 1


def test_a_proxy_that_is_not_there_is_named(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    dead_proxy_url: str,
    waits: list[float],
) -> None:
    monkeypatch.setenv("HTTP_PROXY", dead_proxy_url)
    _, error = attempt_sync(tap_config(sandbox, max_retries=1))
    assert isinstance(error, RetriesExhaustedError)
    message = str(error)
    assert "the proxy from HTTPS_PROXY/HTTP_PROXY did not let the request through" in (
        message
    )
    # Not the API's fault: nothing said of api_url.
    assert "nothing is listening" not in message
    assert len(waits) == 1
    assert sandbox.list_request_count == 0


@pytest.mark.parametrize(
    ("failure", "problem"),
    [
        ("certificate", "TLS certificate of https://127.0.0.1:"),
        ("dns", "the host name api.reviewrover.invalid could not be resolved (DNS)"),
        ("proxy", "the proxy from HTTPS_PROXY/HTTP_PROXY did not let the request"),
    ],
)
def test_each_network_failure_is_its_own_line_from_the_command_line(
    request: pytest.FixtureRequest, tmp_path: Path, failure: str, problem: str
) -> None:
    # The run's environment is this one, without the network variables.
    env: dict[str, str] = {}
    if failure == "certificate":
        untrusted = request.getfixturevalue("untrusted_sandbox")
        config = tap_config(untrusted, max_retries=0)
    else:
        sandbox = request.getfixturevalue("sandbox")
        config = tap_config(sandbox, max_retries=0)
    if failure == "dns":
        config["api_url"] = UNRESOLVABLE_URL
    elif failure == "proxy":
        env["HTTP_PROXY"] = request.getfixturevalue("dead_proxy_url")
    run = run_cli(tmp_path, config, env=env)
    assert run.returncode == 1, run.stderr
    (error,) = logged_at(run.stderr, "ERROR", "CRITICAL")
    assert problem in error
    assert "the connection failed or was dropped" not in error
    assert "Traceback" not in run.stderr
