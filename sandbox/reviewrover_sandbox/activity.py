"""An account in use: a stretch of changes to the enrollments, drawn from a seed.

`simulate(store, Activity(), random.Random(seed))` makes the changes an hour of
a busy account might (by default: 300 enrollments created, 30 of them completed
soon after, 300 open ones edited, 150 completed, a few completed ones reopened
or edited, a few of each deleted) and says which ids had which change. The same
store, activity and seed always give the same changes. Each enrollment gets at
most one kind of change, so a test can tell exactly what a sync had to emit.

Every change is stamped on the store's clock, so it is newer than a sync that
started before it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

    from reviewrover_sandbox.store import EnrollmentStore


@dataclass(frozen=True)
class Activity:
    """How many changes of each kind a stretch of use makes.

    Attributes:
        creates: New enrollments (open).
        created_completed: Of those, how many are completed before the stretch ends.
        updates: Open enrollments edited (they stay open).
        completions: Open enrollments completed.
        reopens: Completed enrollments opened again.
        completed_edits: Completed enrollments edited (they stay completed).
        open_deletes: Open enrollments deleted.
        completed_deletes: Completed enrollments deleted.
    """

    creates: int = 300
    created_completed: int = 30
    updates: int = 300
    completions: int = 150
    reopens: int = 3
    completed_edits: int = 10
    open_deletes: int = 3
    completed_deletes: int = 2

    def scaled(self, factor: float) -> Activity:
        """The same mix, each count times ``factor`` (rounded, at least 1 if it was).

        Args:
            factor: How much more (or less) activity.

        Returns:
            The scaled activity.
        """
        counts = {
            name: max(round(getattr(self, name) * factor), min(getattr(self, name), 1))
            for name in self.__dataclass_fields__
        }
        return Activity(**counts)


@dataclass
class ActivityLog:
    """Which enrollments each kind of change touched, by id.

    Attributes:
        created: New enrollments still open.
        created_completed: New enrollments completed since.
        updated: Open enrollments edited.
        completed: Open enrollments completed.
        reopened: Completed enrollments opened again.
        completed_edited: Completed enrollments edited.
        open_deleted: Open enrollments deleted.
        completed_deleted: Completed enrollments deleted.
    """

    created: list[int] = field(default_factory=list)
    created_completed: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    completed_edited: list[int] = field(default_factory=list)
    open_deleted: list[int] = field(default_factory=list)
    completed_deleted: list[int] = field(default_factory=list)

    @property
    def changed(self) -> set[int]:
        """Enrollments that exist and changed: what an incremental sync emits."""
        return {
            *self.created,
            *self.created_completed,
            *self.updated,
            *self.completed,
            *self.reopened,
            *self.completed_edited,
        }

    @property
    def changed_while_completed(self) -> set[int]:
        """Enrollments edited while completed, before and after the change."""
        return set(self.completed_edited)

    @property
    def deleted(self) -> set[int]:
        """Enrollments deleted, open or completed."""
        return {*self.open_deleted, *self.completed_deleted}


def simulate(
    store: EnrollmentStore, activity: Activity, rng: random.Random
) -> ActivityLog:
    """Make the changes of ``activity`` to ``store``, now.

    Args:
        store: The enrollments.
        activity: How many changes of each kind.
        rng: Chooses the enrollments and the new contacts (seed it).

    Returns:
        Which ids got which change.

    Raises:
        ValueError: The store has too few open or completed enrollments.
    """
    records = store.all_records()
    open_ids = sorted(r["id"] for r in records if not r["completed"])
    completed_ids = sorted(r["id"] for r in records if r["completed"])
    campaigns = sorted({r["campaign_id"] for r in records}) or ["camp_activity"]
    open_wanted = activity.updates + activity.completions + activity.open_deletes
    completed_wanted = (
        activity.reopens + activity.completed_edits + activity.completed_deletes
    )
    if open_wanted > len(open_ids) or completed_wanted > len(completed_ids):
        msg = (
            f"the activity needs {open_wanted} open and {completed_wanted} completed "
            f"enrollments; the store has {len(open_ids)} and {len(completed_ids)}"
        )
        raise ValueError(msg)
    log = ActivityLog()
    touched_open = iter(rng.sample(open_ids, open_wanted))
    touched_completed = iter(rng.sample(completed_ids, completed_wanted))
    for number in range(activity.creates):
        contact = "cont_" + "".join(rng.choices(string.ascii_letters, k=17))
        created = store.create(rng.choice(campaigns), contact)["id"]
        if number < activity.created_completed:
            store.update(created, completed=True)
            log.created_completed.append(created)
        else:
            log.created.append(created)
    for _ in range(activity.updates):
        log.updated.append(store.update(next(touched_open))["id"])
    for _ in range(activity.completions):
        log.completed.append(store.update(next(touched_open), completed=True)["id"])
    for _ in range(activity.open_deletes):
        log.open_deleted.append(store.delete(next(touched_open))["id"])
    for _ in range(activity.reopens):
        reopened = store.update(next(touched_completed), completed=False)
        log.reopened.append(reopened["id"])
    for _ in range(activity.completed_edits):
        log.completed_edited.append(store.update(next(touched_completed))["id"])
    for _ in range(activity.completed_deletes):
        log.completed_deleted.append(store.delete(next(touched_completed))["id"])
    return log
