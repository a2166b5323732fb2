"""``python -m fake_backends --port P --admin-port Q --workers W``: serve one flaky replica.

Flags win over the environment (``PORT``, ``ADMIN_PORT``, ``WORKERS``, ``THREADS`` and the
variables listed in :mod:`fake_backends.settings`). A bad value stops the start with one line
on stderr naming the variable or flag, the value and what is allowed, and exit status 2.
The state directory (``--state-dir``, default a new temporary one) is removed at exit when this
process created it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"fake_backends: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m fake_backends", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, help="data port (env PORT)")
    p.add_argument("--admin-port", type=int, help="admin API port (env ADMIN_PORT)")
    p.add_argument("--workers", type=int, help="gunicorn workers (env WORKERS, default 2)")
    p.add_argument("--threads", type=int, help="threads per worker (env THREADS, default 16)")
    p.add_argument("--replica", help="replica name (env REPLICA, default r0)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--journal", type=Path, help="journal file (env JOURNAL)")
    p.add_argument(
        "--counter",
        help="file:///PATH (default), sqlite:///PATH or redis://HOST:PORT/DB (env COUNTER_URL)",
    )
    p.add_argument("--state-dir", type=Path, help="shared state of the workers (default: temp)")
    p.add_argument(
        "--stamp-clock",
        help="kernel (default: socket timestamps where allowed) or app (env STAMP_CLOCK)",
    )
    p.add_argument("--log-level", default="warning", help="gunicorn log level")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from fake_backends.settings import BackendEnv, BadSetting

    flags = {
        "port": ("--port", args.port),
        "admin_port": ("--admin-port", args.admin_port),
        "workers": ("--workers", args.workers),
        "threads": ("--threads", args.threads),
        "replica": ("--replica", args.replica),
        "counter_url": ("--counter", args.counter),
        "journal_path": ("--journal", args.journal.resolve() if args.journal else None),
        "stamp_clock": ("--stamp-clock", args.stamp_clock),
    }
    try:
        env = BackendEnv.read(flags=flags)
        if env.port is None:
            raise BadSetting("--port", "is required (or set PORT)")
        if env.admin_port is None:
            raise BadSetting("--admin-port", "is required (or set ADMIN_PORT)")
        if env.port == env.admin_port:
            raise BadSetting("--admin-port", f"must differ from --port (both {env.port})")
        port, admin_port = env.port, env.admin_port
        workers, threads = env.workers or 2, env.threads or 16
        profile = env.profile()
        settings = env.service()
    except BadSetting as err:
        print(f"fake_backends: {err}", file=sys.stderr)
        return 2

    own_state = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="fake-backend-")) if own_state else args.state_dir
    state_dir = state_dir.resolve()
    try:
        prom_dir = state_dir / "prometheus"
        shutil.rmtree(prom_dir, ignore_errors=True)
        prom_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)  # before prometheus_client loads

        from fake_backends.app import create_app, prepare_state_dir
        from fake_backends.server import ServeOptions, serve

        prepare_state_dir(state_dir, profile, settings)
        options = ServeOptions(
            host=args.host,
            port=port,
            admin_port=admin_port,
            workers=workers,
            threads=threads,
            proc_name=f"fake-backend-{settings.replica}",
            loglevel=args.log_level,
            kernel_stamps=env.stamp_clock != "app",
        )
        serve(options, lambda: create_app(None, settings, state_dir=state_dir))
    finally:
        if own_state:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
