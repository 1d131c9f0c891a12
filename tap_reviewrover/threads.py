"""Starting the tap's own threads so that a stop signal always reaches the walk.

The kernel hands a process-directed signal (``kill``, an orchestrator's SIGTERM,
Ctrl-C's SIGINT) to any one thread that does not block it. Python runs signal
handlers only in the main thread, and only once that thread runs Python code
again: a signal given to a page fetcher asleep in a socket read sets a flag that
nobody looks at while the main thread waits, in C, for that very page. The stop
then waited for the page's answer (a minute, with a hanging API).

So every thread the tap starts blocks SIGINT and SIGTERM. A thread takes its
signal mask from the thread that starts it: the mask is set around
:meth:`threading.Thread.start` and put back at once, so that no instant exists in
which the new thread could take the signal.
"""

from __future__ import annotations

import signal
import typing as t

if t.TYPE_CHECKING:
    import threading

#: The signals that stop a sync (see ``TapReviewRover.on_stop_signal``).
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def start_deaf_to_stops(thread: threading.Thread) -> None:
    """Start ``thread`` with :data:`STOP_SIGNALS` blocked in it.

    Signals that come meanwhile wait, pending, until the caller's own mask is
    back: the main thread takes them then.

    Args:
        thread: A thread not started yet.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no masks, no kill(2)
        thread.start()
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
