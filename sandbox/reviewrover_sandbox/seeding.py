"""What seeded data is made of: random ids and creation times, and its epoch."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

SEED_FIRST_CREATED = datetime(2024, 1, 1, tzinfo=timezone.utc)
SEED_LAST_CREATED = datetime(2025, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
SEED_TIME = datetime(2025, 7, 1, tzinfo=timezone.utc)
"""Seeded data looks as if it was captured at this instant: nothing is later."""

_ALPHANUMERICS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_SUFFIX_LENGTH = 17


def random_ids(rng: random.Random, prefix: str, count: int) -> list[str]:
    """Return `count` ids like `camp_Kd93lftgZXGRbxqoj`, from one random draw.

    Args:
        rng: The source of randomness.
        prefix: What each id starts with, e.g. `camp_`.
        count: How many ids.
    """
    alphabet = (_ALPHANUMERICS * 5)[:256].encode()  # byte -> character, cheaply
    table = bytes.maketrans(bytes(range(256)), alphabet)
    text = rng.randbytes(count * _ID_SUFFIX_LENGTH).translate(table).decode()
    return [
        prefix + text[start : start + _ID_SUFFIX_LENGTH]
        for start in range(0, len(text), _ID_SUFFIX_LENGTH)
    ]


def seed_creation_seconds(count: int, rng: random.Random) -> list[int]:
    """Draw `count` sorted epoch seconds between the first and last seed creation.

    Args:
        count: How many.
        rng: The source of randomness.
    """
    first = int(SEED_FIRST_CREATED.timestamp())
    span = int(SEED_LAST_CREATED.timestamp()) - first + 1
    draw = rng.random
    return sorted(first + int(draw() * span) for _ in range(count))
