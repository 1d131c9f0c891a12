"""In-memory reviews: a second paged list, newest submitted first.

Served at `GET /api/v1/reviews` so that the tap's base stream class can be
shown to serve any paged, newest-created-first ReviewRover list. A review is
created when it is submitted (`submitted_at`, the listing's order) and may be
edited later (`edited_at`, the last change).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from reviewrover_sandbox.saving import SavableRecordStore
from reviewrover_sandbox.seeding import SEED_TIME, random_ids, seed_creation_seconds
from reviewrover_sandbox.timestamps import (
    Clock,
    TimestampFormatter,
    format_timestamp,
    timestamp_text,
)

if TYPE_CHECKING:
    from datetime import datetime

REVIEW_FIELDS = ("id", "contact_id", "rating", "body", "submitted_at", "edited_at")
"""The review fields, in the order the sandbox renders them."""

MIN_RATING = 1
MAX_RATING = 5

_EDITED_PROBABILITY = 0.3
_MAX_SEED_EDIT_DELAY = 60 * 86_400
# Ratings lean positive, as review sites' do.
_SEED_RATINGS = (5, 5, 5, 5, 4, 4, 4, 3, 2, 1)
_WORDS = (
    *("great", "service", "friendly", "staff", "quick", "easy", "helpful"),
    *("would", "recommend", "again", "slow", "rude", "price", "fair", "clean"),
    *("booking", "online", "team", "thanks", "never", "late", "on", "time"),
)


def _seed_reviews(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Generate `count` reviews with ids 1..count in submission order."""
    contact_ids = random_ids(rng, "cont_", max(count, 1))
    seed_time = int(SEED_TIME.timestamp())
    draw = rng.random
    formatter = TimestampFormatter()
    reviews: list[dict[str, Any]] = []
    for review_id, submitted in enumerate(seed_creation_seconds(count, rng), start=1):
        edited = submitted
        if draw() < _EDITED_PROBABILITY:
            latest_delay = min(_MAX_SEED_EDIT_DELAY, seed_time - submitted)
            edited += int(draw() * (latest_delay + 1))
        words = rng.choices(_WORDS, k=3 + int(draw() * 10))
        reviews.append(
            {
                "id": review_id,
                "contact_id": contact_ids[review_id - 1],
                "rating": _SEED_RATINGS[int(draw() * len(_SEED_RATINGS))],
                "body": " ".join(words).capitalize() + ".",
                "submitted_at": formatter(submitted),
                "edited_at": formatter(edited),
            }
        )
    return reviews


class ReviewStore(SavableRecordStore):
    """Thread-safe in-memory reviews, listed newest submitted first."""

    NAME = "reviews"
    FIELDS = REVIEW_FIELDS
    CREATED_FIELD = "submitted_at"
    UPDATED_FIELD = "edited_at"
    TIMESTAMP_FIELDS = frozenset({"submitted_at", "edited_at"})

    @classmethod
    def seeded(
        cls, count: int, *, seed: int = 1, clock: Clock | None = None
    ) -> ReviewStore:
        """Create a store with deterministic reviews.

        Submission times spread over 2024-01-01..2025-06-30, increasing with id;
        about a third of the reviews were edited later, never after `SEED_TIME`.

        Args:
            count: How many reviews, with ids 1..count.
            seed: Seed of the random generator.
            clock: The API clock; real time by default.

        Returns:
            The filled store.
        """
        rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
        return cls.from_records(_seed_reviews(count, rng), clock=clock)

    def create(
        self,
        contact_id: str,
        rating: int,
        body: str,
        *,
        submitted_at: datetime | str | None = None,
        edited_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Submit a review.

        Args:
            contact_id: Who wrote it.
            rating: Stars, 1 to 5.
            body: The text.
            submitted_at: Submission time; clock now by default.
            edited_at: Last edit; `submitted_at` by default.

        Returns:
            A copy of the new review, with the next id.

        Raises:
            ValueError: The rating is not an integer from 1 to 5.
        """
        if (
            isinstance(rating, bool)
            or not isinstance(rating, int)
            or not MIN_RATING <= rating <= MAX_RATING
        ):
            msg = f"rating must be an integer from {MIN_RATING} to {MAX_RATING}"
            raise ValueError(msg)
        submitted = timestamp_text(submitted_at or format_timestamp(self.clock.now()))
        values = {
            "contact_id": contact_id,
            "rating": rating,
            "body": body,
            "submitted_at": submitted,
            "edited_at": timestamp_text(edited_at or submitted),
        }
        with self._lock:
            return self._add_locked(values)
