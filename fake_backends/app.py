"""The Flask application factory of a flaky backend.

``create_app(profile)`` returns a Flask app whose ``wsgi_app`` is the data plane
(:class:`fake_backends.dataplane.DataPlane`): requests on the data port are attempts (any method,
any path, no Flask routing on this hot path); requests on the admin port reach the Flask routes
of :mod:`fake_backends.admin`.

Everything the gunicorn workers of one replica share lives in its state directory: the profile
store (``state.bin``, ``profiles/``), the default journal (``journal.ndjson`` + ``.seq``), the
default attempt counter (``counter.bin``, a ``file://`` table) and the Prometheus multiprocess
files. The server prepares it once in the master (:func:`prepare_state_dir`); each worker
attaches to it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from fake_backends.admin import register_admin
from fake_backends.counter import AttemptCounter, open_counter
from fake_backends.dataplane import DataPlane
from fake_backends.journal import Journal
from fake_backends.profile import FaultProfile
from fake_backends.settings import BackendSettings
from fake_backends.shared_state import SharedState

EXTENSION_KEY = "fake_backends"


@dataclass(frozen=True)
class BackendParts:
    """The shared pieces one app uses (kept in ``app.extensions["fake_backends"]``)."""

    settings: BackendSettings
    state: SharedState
    journal: Journal
    counter: AttemptCounter
    state_dir: Path


def journal_path(settings: BackendSettings, state_dir: Path) -> Path:
    return settings.journal_path or state_dir / "journal.ndjson"


def counter_url(settings: BackendSettings, state_dir: Path) -> str:
    return settings.counter_url or f"file://{(state_dir / 'counter.bin').absolute()}"


def prepare_state_dir(state_dir: Path, profile: FaultProfile, settings: BackendSettings) -> None:
    """Initialise a replica's state directory (profile generation 1; the journal is created
    if missing and kept if present)."""
    state = SharedState.create(state_dir, profile)
    Journal(
        journal_path(settings, state_dir), settings.journal_max_records, state, settings.replica
    ).create_files()


def create_app(
    profile: FaultProfile | None = None,
    settings: BackendSettings | None = None,
    *,
    state_dir: Path | None = None,
) -> Flask:
    """A flaky backend app.

    With ``state_dir`` already prepared (the server's workers), the app attaches to it and
    ``profile`` must be None. Otherwise the directory (a new temporary one when None) is
    prepared with ``profile`` (default: no faults).
    """
    settings = settings or BackendSettings()
    if state_dir is None:
        state_dir = Path(tempfile.mkdtemp(prefix="fake-backend-"))
    if not (state_dir / "state.bin").exists():
        prepare_state_dir(state_dir, profile or FaultProfile(), settings)
    elif profile is not None:
        raise ValueError("state_dir is already prepared; pass profile=None to attach to it")
    state = SharedState(state_dir)
    journal = Journal(
        journal_path(settings, state_dir), settings.journal_max_records, state, settings.replica
    )
    counter = open_counter(counter_url(settings, state_dir))

    app = Flask("fake_backends")
    register_admin(
        app,
        state=state,
        journal=journal,
        counter=counter,
        replica=settings.replica,
        token=settings.admin_token,
    )
    app.extensions[EXTENSION_KEY] = BackendParts(settings, state, journal, counter, state_dir)
    app.wsgi_app = DataPlane(  # type: ignore[method-assign]
        app.wsgi_app,
        state=state,
        journal=journal,
        counter=counter,
        replica=settings.replica,
        request_id_header=settings.request_id_header,
        admin_port=settings.admin_port,
    )
    return app
