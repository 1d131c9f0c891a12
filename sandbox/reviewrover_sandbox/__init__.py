"""A local sandbox of the ReviewRover Enrollments API, for tests and demos.

Start one with `python -m reviewrover_sandbox`, or in a test::

    with SandboxServer(EnrollmentStore.seeded(1000)) as sandbox:
        sandbox.faults.add(Fault.status(429, headers={"Retry-After": "2"}))
        ...  # run the tap with api_url=sandbox.url, auth_token=sandbox.token
"""

from reviewrover_sandbox.faults import Fault, FaultKind, FaultPlan
from reviewrover_sandbox.server import DEFAULT_TOKEN, RequestRecord, SandboxServer
from reviewrover_sandbox.store import (
    SEED_TIME,
    AlreadyEnrolled,
    Clock,
    EnrollmentStore,
    Page,
    format_timestamp,
)

__all__ = [
    "DEFAULT_TOKEN",
    "SEED_TIME",
    "AlreadyEnrolled",
    "Clock",
    "EnrollmentStore",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Page",
    "RequestRecord",
    "SandboxServer",
    "format_timestamp",
]
