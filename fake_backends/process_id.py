"""This process's id, read without a system call on every use.

glibc stopped caching ``getpid`` (2.25), so ``os.getpid()`` is a system call each time; the hot
path of an attempt needed it six times (the journal's, the counter's and the shared state's
"opened in this process?" checks, and the record's ``worker``). The id is read once at import
and again in a child after every ``os.fork`` (``os.register_at_fork``: gunicorn forks its
workers with ``os.fork``).
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def current() -> int:
    """The id of this process (the value ``os.getpid()`` returns)."""
    return _pid
