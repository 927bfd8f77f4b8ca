"""Child processes that end with the process that started them.

A process killed with SIGKILL runs no clean-up, so its children must notice by themselves: the
TUI's sync process reads a pipe whose end a forked grandchild may still hold, and a forked
parser process waits on a queue whose writing end it inherited, so neither would ever see EOF
and both would stay behind for good.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def die_with_parent(parent: int) -> None:
    """Linux: SIGTERM when the parent dies (PR_SET_PDEATHSIG); ``parent``, when given, is the
    pid this process must still be the child of (it may have died before that took effect)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:
        raise SystemExit(0)
