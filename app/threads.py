"""Helpers for the background threads (greenlets under gevent) of a process."""

from __future__ import annotations

import threading


def join(thread: threading.Thread | None, timeout: float = 5.0) -> None:
    """Wait for a thread to end, if it has started: one still starting (a stop can race its
    `start()`) checks its stop flag first thing, so there is nothing to wait for."""
    if thread is None:
        return
    try:
        thread.join(timeout)
    except RuntimeError:
        pass  # not started yet
