"""Walk strategies over a ReviewRover list: one module each (see ``base``).

:data:`STRATEGIES` names them for the ``incremental_strategy`` setting; a new
strategy is one new module here and one entry below.
"""

from __future__ import annotations

from tap_reviewrover.walkers.base import Walker, WalkPlan
from tap_reviewrover.walkers.full_scan import FullScan
from tap_reviewrover.walkers.open_enrollments import OpenEnrollments

#: The walk strategies by name; ``full_scan`` is the default, and every
#: FULL_TABLE copy's.
STRATEGIES: dict[str, type[Walker]] = {
    "full_scan": FullScan,
    "open_enrollments": OpenEnrollments,
}

__all__ = ["STRATEGIES", "FullScan", "OpenEnrollments", "WalkPlan", "Walker"]
