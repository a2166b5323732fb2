"""The cached process id is this process's, in the parent and in a forked child."""

from __future__ import annotations

import os

from fake_backends import process_id


def test_the_id_is_this_process_and_a_forked_childs_own() -> None:
    assert process_id.current() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = process_id.current() == os.getpid() != os.getppid()
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(child, 0)
    assert process_id.current() == os.getpid()
