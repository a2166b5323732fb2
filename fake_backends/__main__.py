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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from harness.errors import BadInput


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
    p.add_argument("--log-level", default="warning", help="gunicorn log level")
    return p


def _count(flag: int | None, env: Mapping[str, str], name: str, default: int) -> int:
    if flag is not None:
        value, where = flag, f"--{name.lower()}"
    else:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        where = name
        try:
            value = int(raw)
        except ValueError:
            raise BadInput(f"must be an integer in 1..64 (got {raw!r})", field=name) from None
    if not 1 <= value <= 64:
        raise BadInput(f"must be an integer in 1..64 (got {value})", field=where)
    return value


def _port(flag: int | None, env: Mapping[str, str], name: str, flag_name: str) -> int:
    from fake_backends.settings import port_from_env

    value = flag if flag is not None else port_from_env(env, name)
    if value is None:
        raise BadInput(f"is required (or set {name})", field=flag_name)
    if not 1 <= value <= 65535:
        raise BadInput(f"must be a port in 1..65535 (got {value})", field=flag_name)
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = os.environ
    from fake_backends.settings import profile_from_env, settings_from_env

    try:
        profile = profile_from_env(env)
        port = _port(args.port, env, "PORT", "--port")
        admin_port = _port(args.admin_port, env, "ADMIN_PORT", "--admin-port")
        if port == admin_port:
            raise BadInput(f"must differ from --port (both {port})", field="--admin-port")
        workers = _count(args.workers, env, "WORKERS", 2)
        threads = _count(args.threads, env, "THREADS", 16)
        settings = settings_from_env(
            env,
            replica=args.replica,
            counter_url=args.counter,
            journal_path=args.journal.resolve() if args.journal else None,
            admin_port=admin_port,
        )
    except BadInput as err:
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
        )
        serve(options, lambda: create_app(None, settings, state_dir=state_dir))
    finally:
        if own_state:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
