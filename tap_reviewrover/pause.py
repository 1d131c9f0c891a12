"""One back-off for every worker: while any request waits to retry, none starts.

A 5xx or a long ``Retry-After`` on one page means the API is struggling or has
said when to come back: the other workers must not keep sending meanwhile. The
requester calls :meth:`SharedPause.hold` when a try failed and its thread is
about to wait, :meth:`SharedPause.release` when that thread tries again (or gives
up), and every try starts with :meth:`SharedPause.wait_for_the_others`.
"""

from __future__ import annotations

import threading


class SharedPause:
    """The pause every try of one sync waits on (see the module doc).

    Attributes:
        retries: Failed tries that were retried, paused or paced.
    """

    def __init__(self) -> None:
        """Start with no one waiting."""
        self.retries = 0
        self._lock = threading.Lock()
        self._waiting = 0
        self._open = threading.Event()
        self._open.set()
        self._this_thread = threading.local()

    def hold(self) -> None:
        """This thread's request failed: pause every worker until it retries."""
        holding = getattr(self._this_thread, "holding", False)
        self._this_thread.holding = True
        with self._lock:
            self.retries += 1
            if not holding:
                self._waiting += 1
                self._open.clear()

    def count_retry(self) -> None:
        """Count a retry that pauses nobody (its wait is the pacer's)."""
        with self._lock:
            self.retries += 1

    def release(self) -> None:
        """This thread retries now (or gave up): its pause is over."""
        if not getattr(self._this_thread, "holding", False):
            return
        self._this_thread.holding = False
        with self._lock:
            self._waiting -= 1
            if self._waiting == 0:
                self._open.set()

    def wait_for_the_others(self, cancelled: threading.Event | None = None) -> None:
        """Block while another worker's request waits to retry.

        Args:
            cancelled: Set when nobody waits for this request any more; the
                wait then ends early (the caller checks it).
        """
        while not self._open.wait(timeout=0.05):
            if cancelled is not None and cancelled.is_set():
                return

    @property
    def is_held(self) -> bool:
        """Whether some worker's request waits to retry now."""
        return not self._open.is_set()
