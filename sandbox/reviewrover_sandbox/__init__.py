"""A local sandbox of the ReviewRover Enrollments API, for tests and demos.

Start one with `python -m reviewrover_sandbox`, or in a test::

    with SandboxServer(EnrollmentStore.seeded(1000)) as sandbox:
        sandbox.faults.add(Fault.status(429, headers={"Retry-After": "2"}))
        sandbox.faults.add(Fault.short(3), page=2)
        sandbox.rate_limit = TokenBucket(rate=20.0, burst=5)
        ...  # run the tap with api_url=sandbox.url, auth_token=sandbox.token

Everything that misbehaves is opt-in; by default the sandbox does what the
API's documentation says. The modules: `server` (SandboxServer), `api` (routes),
`transport` (HTTP writing), `tls` (HTTPS with a private CA), `proxy` (a
forwarding proxy), `faults`/`kinds`/`plan` (scripted misbehaviour), `ratelimit`,
`compression` (gzip, bombs), `records`/`saving`/`store`/`reviews` (the data),
`ties` (same-second records), `timestamps` (clocks), `seeding`, `activity`
(an account in use: creates, edits, completions, reopens, deletes, from a seed).
"""

from reviewrover_sandbox.activity import Activity, ActivityLog, simulate
from reviewrover_sandbox.compression import gzip_bomb
from reviewrover_sandbox.faults import Fault
from reviewrover_sandbox.kinds import FaultKind
from reviewrover_sandbox.plan import FaultPlan, LimitCapMode, ListName, PageWindow
from reviewrover_sandbox.proxy import ForwardProxy, ProxiedRequest
from reviewrover_sandbox.ratelimit import TokenBucket, TokenDecision
from reviewrover_sandbox.records import Page, RecordStore
from reviewrover_sandbox.reviews import ReviewStore
from reviewrover_sandbox.seeding import SEED_TIME
from reviewrover_sandbox.server import DEFAULT_TOKEN, RequestRecord, SandboxServer
from reviewrover_sandbox.store import AlreadyEnrolled, EnrollmentStore
from reviewrover_sandbox.ties import TieGroups
from reviewrover_sandbox.timestamps import Clock, format_timestamp
from reviewrover_sandbox.tls import SandboxTls

__all__ = [
    "DEFAULT_TOKEN",
    "SEED_TIME",
    "Activity",
    "ActivityLog",
    "AlreadyEnrolled",
    "Clock",
    "EnrollmentStore",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "ForwardProxy",
    "LimitCapMode",
    "ListName",
    "Page",
    "PageWindow",
    "ProxiedRequest",
    "RecordStore",
    "RequestRecord",
    "ReviewStore",
    "SandboxServer",
    "SandboxTls",
    "TieGroups",
    "TokenBucket",
    "TokenDecision",
    "format_timestamp",
    "gzip_bomb",
    "simulate",
]
