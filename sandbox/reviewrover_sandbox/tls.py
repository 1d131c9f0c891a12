"""HTTPS for the sandbox: a certificate from a throwaway private CA (`trustme`).

A company's private CA, as a tap behind it meets it::

    tls = SandboxTls.private_ca(tmp_path)  # writes tmp_path / "sandbox-ca.pem"
    with SandboxServer(store, tls=tls) as sandbox:  # https://127.0.0.1:PORT/api
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_bundle))

`SandboxTls.untrusted()` serves a certificate that no client trusts: its CA's
certificate is never written anywhere. Both certify 127.0.0.1 and localhost
unless `hostnames` says otherwise (e.g. another name, for a mismatch).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trustme

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_HOSTNAMES = ("127.0.0.1", "localhost")
CA_BUNDLE_NAME = "sandbox-ca.pem"


@dataclass(frozen=True)
class SandboxTls:
    """What the sandbox's TLS listener serves, and the CA a client may trust.

    Attributes:
        context: The server side's TLS context, certificate and key loaded.
        ca_bundle: A PEM file of the CA that issued the certificate, for
            `REQUESTS_CA_BUNDLE` or `verify=`; None when nobody may trust it.
    """

    context: ssl.SSLContext
    ca_bundle: Path | None

    @classmethod
    def private_ca(
        cls, directory: Path, *, hostnames: tuple[str, ...] = DEFAULT_HOSTNAMES
    ) -> SandboxTls:
        """Make a new CA, issue the sandbox's certificate, write the CA's bundle.

        Args:
            directory: Where the bundle goes, as `sandbox-ca.pem`.
            hostnames: The names (or IP addresses) the certificate is for.

        Returns:
            The TLS settings, with `ca_bundle` set.
        """
        authority = trustme.CA()
        bundle = directory / CA_BUNDLE_NAME
        authority.cert_pem.write_to_path(bundle)
        return cls(_server_context(authority, hostnames), bundle)

    @classmethod
    def untrusted(cls, *, hostnames: tuple[str, ...] = DEFAULT_HOSTNAMES) -> SandboxTls:
        """A certificate from a CA nobody has: every client refuses it.

        Args:
            hostnames: The names (or IP addresses) the certificate is for.

        Returns:
            The TLS settings, without a bundle.
        """
        return cls(_server_context(trustme.CA(), hostnames), None)


def _server_context(
    authority: trustme.CA, hostnames: tuple[str, ...]
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*hostnames).configure_cert(context)
    return context
