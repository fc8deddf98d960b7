"""Whether a process of this host is alive, for cleaning up what a dead process left behind (spools, temp folders,
helper processes)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

__all__ = ["pid_alive", "stop_when_gone"]


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this host (a recycled pid counts as alive: cleanup errs on keeping)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stop_when_gone(pid: int, stop: Callable[[], None], every_s: float = 1.0) -> threading.Thread:
    """Call ``stop`` once process ``pid`` is gone (checked every ``every_s`` seconds, in a daemon thread)."""

    def watch() -> None:
        while pid_alive(pid):
            threading.Event().wait(every_s)
        stop()

    thread = threading.Thread(target=watch, name=f"stop-when-{pid}-gone", daemon=True)
    thread.start()
    return thread
