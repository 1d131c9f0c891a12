"""Gzip as the sandbox sends it: honestly on request, or as a bomb.

- `accepts_gzip` reads a request's `Accept-Encoding`; with
  `sandbox.gzip_responses` on, answers to clients that accept gzip are
  compressed with `gzip_body` (off by default: the API's documentation does
  not promise compression, and a plain body keeps `Content-Length` equal to
  the bytes a client reads).
- `gzip_bomb` makes a small gzip body that expands to a chosen, huge size: the
  answer's JSON followed by spaces (still valid JSON, only big). It is built
  from one compressed megabyte of spaces repeated, so neither the expanded
  data nor the time to compress it is ever needed: about 1 KiB a MiB.
"""

from __future__ import annotations

import gzip
import struct
import zlib

_SEGMENT_BYTES = 1 << 20
_SPACE = b" "
# A gzip member's header (RFC 1952): magic, deflate, no flags, no time, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_UINT32 = 0xFFFFFFFF


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` value lets the server send gzip.

    Args:
        accept_encoding: The header's value, e.g. `gzip, deflate` or
            `gzip;q=0, *`; empty when the request had none.

    Returns:
        True when gzip (or `*`, gzip not named) has a quality above 0.
    """
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, parameters = item.partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.strip().partition("=")
            if key.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[name.strip().lower()] = quality
    if "gzip" in qualities:
        return qualities["gzip"] > 0
    return qualities.get("*", 0.0) > 0


def gzip_body(body: bytes) -> bytes:
    """Compress a body with gzip, the same bytes for the same body.

    Args:
        body: The body.

    Returns:
        The gzip member.
    """
    return gzip.compress(body, mtime=0)


def gzip_bomb(prefix: bytes, expanded_bytes: int) -> bytes:
    """Return a gzip member that expands to `prefix`, then spaces: `expanded_bytes`.

    The deflate stream is the prefix, then one compressed megabyte of spaces
    repeated, then the rest: each part ends on a full flush, so it needs
    nothing before it and the parts can follow each other. Only the CRC reads
    through the expanded size, a megabyte at a time.

    Args:
        prefix: What the expanded data starts with, e.g. a JSON answer.
        expanded_bytes: The size of the expanded data, at least the prefix's.

    Returns:
        The compressed body (about a thousandth of `expanded_bytes`).

    Raises:
        ValueError: `expanded_bytes` is smaller than the prefix.
    """
    if expanded_bytes < len(prefix):
        msg = "expanded_bytes must be at least the length of the prefix"
        raise ValueError(msg)
    segments, rest = divmod(expanded_bytes - len(prefix), _SEGMENT_BYTES)
    parts = [_GZIP_HEADER, _deflate(prefix, final=False)]
    crc = zlib.crc32(prefix)
    if segments:
        spaces = _SPACE * _SEGMENT_BYTES
        parts += [_deflate(spaces, final=False)] * segments  # the same bytes object
        for _ in range(segments):
            crc = zlib.crc32(spaces, crc)
    tail = _SPACE * rest
    parts.append(_deflate(tail, final=True))
    crc = zlib.crc32(tail, crc)
    parts.append(struct.pack("<II", crc, expanded_bytes & _UINT32))
    return b"".join(parts)


def _deflate(data: bytes, *, final: bool) -> bytes:
    """Raw deflate blocks of `data` that refer to nothing before them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    end = zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH
    return compressor.compress(data) + compressor.flush(end)
