"""No secret in any log line: redaction at the logging layer.

Messages are written by the tap, the SDK, requests, urllib3 and backoff, and some
quote what the API sent back (APIs that echo the request in their errors quote
the token). Rather than trust every one of them, every log record is redacted as
it is made: :meth:`SecretRedactor.install` wraps the logging module's record
factory, so that a message, its arguments and its traceback never reach a handler
with a secret in them, whatever logger or handler a future change adds.
"""

from __future__ import annotations

import json
import logging
import threading
import typing as t
from urllib.parse import quote

#: What a secret is replaced with.
MASK = "***"


class SecretRedactor:
    """Replaces known secrets in text and in every log record."""

    def __init__(self) -> None:
        """Know no secret yet."""
        self._forms: list[str] = []
        self._lock = threading.Lock()
        self._installed = False

    def add(self, secret: object) -> None:
        """Hide ``secret`` from now on, in each form it may be quoted in.

        Args:
            secret: A secret value; empty values and non-strings are ignored.
        """
        if not isinstance(secret, str) or not secret.strip():
            return
        forms = {
            secret,
            secret.strip(),
            json.dumps(secret.strip())[1:-1],
            quote(secret.strip(), safe=""),
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
