"""Table versions, and when ACTIVATE_VERSION may be sent: it is a delete.

Every record carries the version of its sync (the sync's start, in seconds, as
the SDK numbers them). On ACTIVATE_VERSION a target retires every row whose
version is lower than the one activated (deletes it with ``hard_delete``, or sets
``_sdc_deleted_at``). So it goes out only after a copy that is provably the whole
table, and these rules decide it (pure functions; the stream applies them):

* **never for a subset**: a FULL_TABLE sync limited to ``campaign_ids`` copies
  those campaigns only; activating would retire every other campaign's rows. It
  is refused before the first request (:func:`subset_problem`);
* **never after a copy that failed**: the stream sends nothing unless every page
  of every partition was read;
* **never after a suspicious shrink** (:func:`activation`): the state keeps the
  size of the last whole copy; a copy smaller by more than
  ``full_table_max_shrink_percent`` of it, or an empty copy, sends nothing and the sync
  ends with an error naming both counts (a token for another workspace, an
  incident at the API: "0 records" is then a valid answer, and no reason to
  empty the warehouse);
* **never against a sync that overlaps**: another sync loading the same table at
  the same time (an incremental one, another FULL_TABLE copy) may write a row
  after this copy wrote it, with its own, older version. The version activated
  is this copy's less ``activate_version_grace_hours``, so a row last loaded by
  any sync that started within that time is kept; a row deleted in ReviewRover
  leaves the table at the first copy that starts that long after its last load.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: Where the state keeps the last whole copy (in the stream's bookmark).
STATE_KEY = "last_full_table_copy"


@dataclass(frozen=True)
class Activation:
    """What to do once a whole FULL_TABLE copy was written.

    Attributes:
        version: The version to activate; None: send nothing.
        problem: Why nothing is sent, when that is an error (the sync then ends
            with it); None otherwise.
    """

    version: int | None
    problem: str | None = None


def subset_problem(
    *, full_table: bool, versions_on: bool, partitions: int
) -> str | None:
    """Why this sync may not run as configured, if a subset would be activated.

    Args:
        full_table: Whether the sync is a FULL_TABLE copy.
        versions_on: The ``emit_activate_version_messages`` setting.
        partitions: How many campaigns ``campaign_ids`` lists (0: all).

    Returns:
        The message, or None.
    """
    if not (full_table and versions_on and partitions):
        return None
    return (
        "A FULL_TABLE sync with campaign_ids copies only those campaigns, and its "
        "ACTIVATE_VERSION would delete every other campaign's rows in the target. "
        "Run FULL_TABLE without campaign_ids, or set "
        "emit_activate_version_messages to false to copy these campaigns without "
        "retiring deleted rows."
    )


def activation(  # noqa: PLR0913 - one argument per input of the rule
    *,
    stream: str,
    version: int,
    copied: int,
    last_copy: Mapping[str, t.Any] | None,
    max_shrink: float,
    grace_seconds: int,
) -> Activation:
    """Whether, and with which version, to send ACTIVATE_VERSION after a copy.

    Args:
        stream: The stream copied, for the message (a tap may have several).
        version: The version every record of the copy carried.
        copied: Distinct records in the copy.
        last_copy: The state's record of the last whole copy, if any.
        max_shrink: ``full_table_max_shrink_percent``, as a share (0-1).
        grace_seconds: ``activate_version_grace_hours``, in seconds.

    Returns:
        The decision.
    """
    last = last_copy.get("records") if isinstance(last_copy, dict) else None
    last = last if isinstance(last, int) and not isinstance(last, bool) else None
    if copied == 0:
        if last == 0:
            return Activation(None)  # empty then, empty now: nothing to retire
        before = f"the last whole copy had {last}" if last else "nothing is known of"
        return Activation(
            None,
            f"The FULL_TABLE copy of {stream} holds 0 records ({before} before "
            "it): ACTIVATE_VERSION was not sent, as it would empty the table in "
            "the target. If the account is really empty now, delete the rows by "
            "hand.",
        )
    if last is not None and copied < last * (1 - max_shrink):
        return Activation(
            None,
            f"The FULL_TABLE copy of {stream} holds {copied} records, "
            f"{last - copied} fewer than the {last} of the last whole copy (more "
            f"than the full_table_max_shrink_percent of {max_shrink:.0%} allows): "
            "ACTIVATE_VERSION was not sent, so no row was retired. If so many "
            f"{stream} were really deleted, run once with a larger "
            "full_table_max_shrink_percent.",
        )
    return Activation(version - grace_seconds)


def copy_record(version: int, copied: int) -> dict[str, int]:
    """What the state keeps of a whole copy that was activated.

    Args:
        version: The copy's version.
        copied: Distinct records in it.

    Returns:
        The entry for :data:`STATE_KEY`.
    """
    return {"version": version, "records": copied}


@dataclass(frozen=True)
class VersionRules:
    """The version rules of one sync, from its settings (see the module doc).

    Attributes:
        version: The version every record carries; None when versions are off
            (the setting, or batch mode, where a BATCH message may follow the
            last record and ACTIVATE_VERSION must not come before it).
        full_table: Whether the sync is a FULL_TABLE copy.
        problem: Why the sync may not run, if it may not.
        warning: What the user should know, if anything.
    """

    version: int | None
    full_table: bool
    problem: str | None = None
    warning: str | None = None

    @classmethod
    def for_sync(
        cls,
        settings: Mapping[str, t.Any],
        *,
        full_table: bool,
        batch: bool,
        partitions: int,
        started_at: int,
    ) -> VersionRules:
        """The rules of a sync.

        Args:
            settings: The tap's settings.
            full_table: Whether it is a FULL_TABLE copy.
            batch: Whether it writes BATCH messages.
            partitions: How many campaigns ``campaign_ids`` lists (0: all).
            started_at: Its version: its start, in seconds.

        Returns:
            The rules.
        """
        on = bool(settings.get("emit_activate_version_messages", True))
        problem = subset_problem(
            full_table=full_table, versions_on=on, partitions=partitions
        )
        if on and batch:
            warning = (
                "ACTIVATE_VERSION is not sent in batch mode: rows deleted in "
                "ReviewRover stay in the target."
            )
            return cls(None, full_table, problem, warning if full_table else None)
        # Every record carries it, incremental ones too: a target retires rows
        # older than an activated version, and some (Snowflake) never retire a
        # row that has no version at all.
        return cls(started_at if on else None, full_table, problem)

    def after_copy(
        self,
        state: dict[str, t.Any],
        copied: int,
        settings: Mapping[str, t.Any],
        *,
        stream: str,
    ) -> Activation:
        """Decide ACTIVATE_VERSION after a whole copy, and remember the copy.

        Args:
            state: The stream's state (the SDK's writable dict).
            copied: Distinct records in the copy.
            settings: The tap's settings.
            stream: The stream's name, for the message.

        Returns:
            The decision (the state keeps the copy when it is activated).
        """
        if self.version is None or not self.full_table:
            return Activation(None)
        decision = activation(
            stream=stream,
            version=self.version,
            copied=copied,
            last_copy=state.get(STATE_KEY),
            max_shrink=int(settings["full_table_max_shrink_percent"]) / 100,
            grace_seconds=int(settings["activate_version_grace_hours"]) * 3600,
        )
        if decision.version is not None:
            state[STATE_KEY] = copy_record(self.version, copied)
        return decision
