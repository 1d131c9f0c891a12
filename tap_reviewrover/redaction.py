"""No secret in any output: one redactor for every message.

Messages are written by the tap, the SDK, requests, urllib3 and backoff, and some
quote what the API sent back (APIs that echo the request in their errors quote
the token), or a setting the SDK rejected. Rather than trust every one of them,
:data:`REDACTOR` knows the secrets (the tap registers them as it reads its
settings) and hides them wherever text goes out:

* every log record, as it is made: :meth:`SecretRedactor.install` wraps the
  logging module's record factory, so that a message, its arguments and its
  traceback never reach a handler with a secret in them, whatever logger or
  handler a future change adds. ``main()`` installs it, once per process;
* the text of errors built from what the API or the SDK said
  (:meth:`SecretRedactor.redact`).

A secret too short to be a real token would mask ordinary words and numbers in
every line ("5*** records"): the settings refuse such tokens
(:data:`MIN_SECRET_LENGTH`), and the redactor never learns them.
"""

from __future__ import annotations

import json
import logging
import threading
import typing as t
from urllib.parse import quote

#: What a secret is replaced with.
MASK = "***"
#: Shorter secrets are refused by the settings (they would mask ordinary text).
MIN_SECRET_LENGTH = 12


class SecretRedactor:
    """Replaces known secrets in text and in every log record."""

    def __init__(
        self, secrets: t.Iterable[object] = (), *, min_length: int = MIN_SECRET_LENGTH
    ) -> None:
        """Know these secrets.

        Args:
            secrets: Secret values; empty values and non-strings are ignored.
            min_length: Shorter secrets are ignored (see the module doc); 1 for
                the messages about settings, which may quote a refused one.
        """
        self._min_length = max(1, min_length)
        self._forms: list[str] = []
        self._lock = threading.Lock()
        self._installed = False
        for secret in secrets:
            self.add(secret)

    def add(self, secret: object) -> None:
        """Hide ``secret`` from now on, in each form it may be quoted in.

        Args:
            secret: A secret value; values shorter than the redactor's minimum
                length and non-strings are ignored.
        """
        if isinstance(secret, (int, float)) and not isinstance(secret, bool):
            secret = str(secret)  # a number where a token belongs is still one
        if not isinstance(secret, str) or len(secret.strip()) < self._min_length:
            return
        stripped = secret.strip()
        forms = {
            secret,
            stripped,
            f"Bearer {stripped}",  # the Authorization header, as echoed back
            json.dumps(stripped)[1:-1],  # quoted in JSON
            repr(stripped)[1:-1],  # quoted by repr(), as jsonschema does
            quote(stripped, safe=""),  # in a URL
        }
        with self._lock:
            self._forms = sorted({*self._forms, *forms}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``.

        Args:
            text: Any text.

        Returns:
            The text, redacted.
        """
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def install(self) -> None:
        """Redact every log record made in this process from now on (once)."""
        with self._lock:
            if self._installed:
                return
            self._installed = True
        make_record = logging.getLogRecordFactory()

        def redacted_record(*args: t.Any, **kwargs: t.Any) -> logging.LogRecord:  # noqa: ANN401 - the factory's own
            record = make_record(*args, **kwargs)
            if self._forms:
                self._redact_record(record)
            return record

        logging.setLogRecordFactory(redacted_record)

    def _redact_record(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep its parts
            message = f"{record.msg} {record.args}"
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters read the exception again; only the redacted text stays.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, self.redact(text)


#: The process's redactor: the logging record factory it wraps is the process's.
REDACTOR = SecretRedactor()
