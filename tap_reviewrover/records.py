"""Typed records: pages decoded and checked in one pass, encoded a page at a time.

The stream's JSON Schema is the one source of truth:
:func:`~tap_reviewrover.record_types.record_type` turns it into a
:class:`msgspec.Struct`, so that decoding a page *is* checking it (an id
that is a string, a ``completed`` of ``"yes"``, a timestamp such as
``2024-13-45T99:99:99Z`` or without an offset, a record without ``id``, an
integer beyond 64 bits), at no more CPU than decoding it untyped. Fields the
schema does not know are left out, and named once. The rare page that needs more
(a leap second, a NUL, text that is not Unicode) takes a slower path, with
:mod:`tap_reviewrover.repairs`; a clean page never does.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import typing as t

import msgspec

from tap_reviewrover.record_types import record_type
from tap_reviewrover.repairs import (
    Repair,
    describe,
    has_leap_second,
    may_hold_nul,
    parse_leniently,
    repair_page,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Where msgspec says a check failed, such as ``$.enrollments[3].completed``.
ERROR_PATH = re.compile(
    r" - at `\$(?:\.(?P<key>\w+))?(?:\[(?P<index>\d+)\])?(?:\.(?P<field>\w+))?`$"
)
#: Years whose moments may not exist in UTC once their offset is applied.
EDGE_YEARS = (b'"0001-', b'"9999-')

#: A count in ``pagination``: a non-negative integer (not a boolean).
Count = t.Annotated[int, msgspec.Meta(ge=0)]
#: A page number or size, when the API echoes it.
Positive = t.Annotated[int, msgspec.Meta(ge=1)]


class UnexpectedResponseError(ValueError):
    """A list response that does not have the documented shape or types."""


class NotJsonError(UnexpectedResponseError):
    """A list response whose body is not JSON at all (cut short, or a proxy's page)."""


class Pagination(msgspec.Struct):
    """The ``pagination`` object of a list response."""

    total: Count
    total_pages: Count
    page: Positive | None = None
    limit: Positive | None = None


class DecodedPage(t.NamedTuple):
    """A page as :meth:`PageDecoder.decode` read it.

    Attributes:
        records: The records (Structs), in API order.
        pagination: The ``pagination`` object.
        unknown_fields: Fields beyond the schema first seen on this page.
        repairs: The text replaced in its records (see :class:`PageDecoder`).
    """

    records: list[t.Any]
    pagination: Pagination
    unknown_fields: set[str]
    repairs: list[Repair]


#: The page of a record the API no longer has (a 404 for ``GET {list}/{id}``).
GONE = DecodedPage([], Pagination(total=0, total_pages=0), set(), [])


def repaired(
    page: list[t.Any], repairs: list[Repair], emitted: Iterable[t.Any]
) -> str | None:
    """The warning for the records emitted from a page whose text was replaced.

    A record that is not emitted (older than the bookmark) is not named: nothing
    altered was sent, and an hourly sync would otherwise warn about it forever.

    Args:
        page: The page's records, as decoded.
        repairs: What :meth:`PageDecoder.decode` replaced in them.
        emitted: Those of the records the sync emits.

    Returns:
        One line naming each record emitted with replaced text (``id`` and
        field), or None when there is none.
    """
    if not repairs:
        return None
    emitted_now = {id(record) for record in emitted}
    named = [
        (getattr(page[repair.position], "id", None), repair)
        for repair in repairs
        if id(page[repair.position]) in emitted_now
    ]
    return describe(named) if named else None


class PageDecoder:
    r"""Decodes one list's pages: ``{records_key: [...], "pagination": {...}}``.

    A record that breaks the schema stops the sync: the tap cannot guess what the
    API meant. Two kinds of value are not guesses, and are taken instead:

    - **Text a warehouse cannot store**: a NUL, a lone surrogate (``\ud800``) or
      bytes that are not UTF-8 in a string. It is replaced with U+FFFD, and a
      warning names each record emitted with it (by ``id``) and its field. Not a
      stop: every sync reads every page, so one vendor's bad string would stop
      every sync until the vendor fixed it; and the text is no character at all
      (a surrogate is half of one, NUL is the C string terminator), which
      PostgreSQL refuses, failing the whole load. Not silent either: the warning
      says where, and U+FFFD (Unicode's mark for exactly this) shows it in the
      row. A record with such text that the sync does not emit (older than the
      bookmark) is not reported: nothing altered was sent.
    - **A leap second** (``23:59:60Z``): valid RFC 3339, read as 23:59:59.999999
      (see :func:`tap_reviewrover.repairs.read_leap_second`).

    Attributes:
        unknown_fields: Fields the API sent that the schema lacks, so far.
    """

    def __init__(
        self,
        stream_name: str,
        records_key: str,
        schema: Mapping[str, t.Any],
        *,
        required: Iterable[str | None] = (),
    ) -> None:
        """Build the decoders from the stream's schema.

        Args:
            stream_name: The stream, for messages.
            records_key: The key of the record list in the JSON body.
            schema: The stream's JSON Schema.
            required: Fields each record must have besides the schema's own
                ``required`` (None entries are ignored).
        """
        wanted = {*schema.get("required", ()), *(name for name in required if name)}
        schema = {**schema, "required": sorted(wanted)}
        self.records_key = records_key
        self.unknown_fields: set[str] = set()
        self._lock = threading.Lock()  # pages are decoded on several threads
        known = frozenset(schema["properties"])
        self._known_fields = known
        self._stream_name = stream_name
        self._timestamp_fields = tuple(
            field
            for field, property_schema in schema["properties"].items()
            if property_schema.get("format") == "date-time"
        )
        decoders = []
        for strict in (True, False):
            record: t.Any = record_type(
                f"{stream_name.title()}Record",
                schema,
                forbid_unknown_fields=strict,
            )
            body = msgspec.defstruct(
                "ListPage",
                [(records_key, list[record]), ("pagination", Pagination)],
            )
            decoders.append(msgspec.json.Decoder(body))
        self._strict, self._lenient = decoders

    def decode(self, content: bytes) -> DecodedPage:
        r"""Decode and check one page.

        A clean page is decoded once, in C. Only a page that fails to decode, or
        whose bytes hold a ``\u0000``, is read again the slow way (see the class
        doc).

        Args:
            content: The response body.

        Returns:
            The records (Structs), the pagination, the unknown fields this page
            showed for the first time (to be reported once), and the text it
            replaced.

        Raises:
            NotJsonError: If the body is not JSON.
            UnexpectedResponseError: If the body is not the documented shape, or a
                record breaks the schema; the message names the record and field.
        """
        try:
            body, unknown = self._typed(content)
        except msgspec.ValidationError as error:
            if not has_leap_second(content):
                raise self._problem(error, content) from None
            return self._decode_repaired(content, error)
        except msgspec.DecodeError as error:
            # A lone surrogate or bytes that are not UTF-8, or not JSON at all.
            return self._decode_repaired(content, error)
        if may_hold_nul(content):
            return self._decode_repaired(content, None)
        return self._decoded(body, unknown, content, [])

    def decode_one(self, content: bytes) -> DecodedPage:
        """Decode and check one record (``GET {list}/{id}``): a page of one.

        The body is read as the list's page ``{"<records_key>": [body]}``
        would be, so that every check and repair of a page applies to it.

        Args:
            content: The response body: one record.

        Returns:
            A page of that one record.

        Raises:
            NotJsonError: If the body is not JSON (or is empty).
            UnexpectedResponseError: If it is not one record of the schema.
        """
        if not content.strip():
            msg = "the body is empty"
            raise NotJsonError(msg)
        key = self.records_key.encode()
        page = self.decode(
            b'{"%s":[%s],"pagination":{"total":1,"total_pages":1}}' % (key, content)
        )
        if len(page.records) != 1:
            msg = f"the body holds {len(page.records)} records, not one"
            raise UnexpectedResponseError(msg)
        return page

    def _typed(self, content: bytes) -> tuple[t.Any, set[str]]:
        """The body, and fields beyond the schema (only some when known already).

        Raises:
            msgspec.DecodeError: As msgspec does (``ValidationError`` too).
        """
        try:
            return self._strict.decode(content), set()
        except msgspec.ValidationError as error:
            unknown = _unknown_field(str(error))
            if unknown is None:
                raise
        found = (
            {unknown}
            if unknown in self.unknown_fields
            else self._fields_beyond_schema(content)
        )
        return self._lenient.decode(content), found

    def _decode_repaired(
        self, content: bytes, error: msgspec.DecodeError | None
    ) -> DecodedPage:
        """Decode a page through plain values, made storable and readable."""
        try:
            if error is not None and not isinstance(error, msgspec.ValidationError):
                plain = parse_leniently(content)
            else:  # valid JSON to msgspec: the same parser reads it again
                plain = msgspec.json.decode(content)
            repairs = repair_page(
                plain, self.records_key, self._known_fields, self._timestamp_fields
            )
            clean = msgspec.json.encode(plain)
        except (ValueError, RecursionError):
            if isinstance(error, msgspec.ValidationError):
                raise self._problem(error, content) from None
            msg = f"the body is not valid JSON ({error or 'too deep to repair'})"
            raise NotJsonError(msg) from None
        try:
            body, unknown = self._typed(clean)
        except msgspec.ValidationError as problem:
            raise self._problem(problem, clean) from None
        except msgspec.DecodeError as problem:  # pragma: no cover - encoded above
            msg = f"the body is not valid JSON ({problem})"
            raise NotJsonError(msg) from None
        return self._decoded(body, unknown, clean, repairs)

    def _decoded(
        self,
        body: t.Any,  # noqa: ANN401 - a ListPage Struct, built at run time
        unknown: set[str],
        content: bytes,
        repairs: list[Repair],
    ) -> DecodedPage:
        """Finish a decoded page: check its moments, keep what it showed."""
        records: list[t.Any] = getattr(body, self.records_key)
        if any(edge in content for edge in EDGE_YEARS):
            self._check_moments_exist(records)
        with self._lock:
            new_unknown = unknown - self.unknown_fields
            self.unknown_fields |= new_unknown
        return DecodedPage(records, body.pagination, new_unknown, repairs)

    def _check_moments_exist(self, records: list[t.Any]) -> None:
        # 0001-01-01T00:00:00+01:00 decodes, but that moment is before year 1 in
        # UTC: no target could store it.
        for position, record in enumerate(records):
            for field in self._timestamp_fields:
                value = getattr(record, field)
                if value is None:
                    continue
                try:
                    value.astimezone(dt.timezone.utc)
                except OverflowError:
                    msg = (
                        f"record {position + 1} ({_identify(record)}): `{field}` is "
                        f"{value.isoformat()}, a moment outside the years 1-9999 "
                        "in UTC"
                    )
                    raise UnexpectedResponseError(msg) from None

    def _problem(
        self, error: msgspec.ValidationError, content: bytes
    ) -> UnexpectedResponseError:
        text = str(error)
        where = ERROR_PATH.search(text)
        reason = text[: where.start()] if where else text
        if where is None or where["key"] != self.records_key or not where["index"]:
            place = where.group(0).removeprefix(" - at ") if where else "the body"
            msg = f"{place}: {reason}"
            return UnexpectedResponseError(msg)
        position = int(where["index"])
        record = _raw_record(content, self.records_key, position)
        field = f"`{where['field']}`: " if where["field"] else ""
        msg = f"record {position + 1} ({_identify_raw(record)}): {field}{reason}"
        return UnexpectedResponseError(msg)

    def _fields_beyond_schema(self, content: bytes) -> set[str]:
        try:
            body = msgspec.json.decode(content)
        except (msgspec.DecodeError, RecursionError):
            return set()
        records = body.get(self.records_key) if isinstance(body, dict) else None
        names: set[str] = set()
        for record in records if isinstance(records, list) else ():
            if isinstance(record, dict):
                names.update(str(name) for name in record)
        return names - self._known_fields


def _unknown_field(message: str) -> str | None:
    match = re.match(r"Object contains unknown field `(.+)`", message)
    return match[1] if match else None


def _raw_record(content: bytes, records_key: str, position: int) -> object:
    """The record at ``position`` as plain JSON, to name it in a message."""
    try:
        body = parse_leniently(content)  # a lone surrogate elsewhere, too
    except ValueError:
        return None
    records = body.get(records_key) if isinstance(body, dict) else None
    if isinstance(records, list) and position < len(records):
        return records[position]
    return None


def _identify_raw(record: object) -> str:
    if isinstance(record, dict) and "id" in record:
        return f"id {record['id']!r}"
    return "no id"


def _identify(record: object) -> str:
    return f"id {getattr(record, 'id', None)!r}"
