"""nox sessions: ``fast`` (the edit loop: every test not marked ``slow`` or ``statistical``),
``tests`` (the full suite, as CI runs it), ``lint`` (ruff, mypy), ``conformance`` (every shipped
local scenario against real HAProxy, nginx, Caddy and the urllib3 client SUT), ``image`` (the
backend, SUT and Prometheus images), ``conformance_docker`` (shipped scenarios on the docker
substrate) and ``ui`` (a scenario under Locust's web UI until Ctrl-C).

``nox -s tests`` and ``nox -s conformance`` are the two commands at the top of the README;
``nox -s kind`` runs the in-cluster kits in a kind cluster (the CI conformance workflow).
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"
FAST_MARKERS = "not slow and not statistical"


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (real gunicorn, HAProxy, nginx, Caddy, Locust on 127.0.0.1)."""
    _install(session)
    session.run("pytest", "--junitxml=reports/tests.xml", *session.posargs)


@nox.session(python=PYTHON, default=False)
def fast(session: nox.Session) -> None:
    """The edit loop: unit and integration tests except those marked slow (whole runs, large
    samples) or statistical (procedures repeated over many seeds). CI runs the full ``tests``."""
    _install(session)
    session.run("pytest", "-m", FAST_MARKERS, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy (strict)."""
    _install(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def conformance(session: nox.Session) -> None:
    """Every shipped scenario in scenarios/*.yaml on the local substrate; reports in reports/.

    A scenario whose SUT program is missing is reported as skipped, with the command that
    installs it. Pass scenario files to run only those: ``nox -s conformance -- FILE...``.
    """
    _install(session)
    session.run("retry-harness", "conformance", "--report-dir", "reports", *session.posargs)


@nox.session(python=PYTHON, default=False)
def kind(session: nox.Session) -> None:
    """The in-cluster SUT kits (scenarios/kits/) in a kind cluster; reports in reports/kind/.

    Needs kind, kubectl, helm and docker on PATH (or $KIND, $KUBECTL, $HELM, $DOCKER) and the
    backend image (``nox -s image``); a missing program stops it with the command that installs
    it. Pass kit scenarios to run only those, and ``--keep-cluster`` to reuse the cluster:
    ``nox -s kind -- scenarios/kits/kong/scenario.yaml --keep-cluster``.
    """
    _install(session)
    session.run(
        "retry-harness",
        "conformance",
        "--substrate",
        "kind",
        "--report-dir",
        "reports/kind",
        *session.posargs,
    )


@nox.session(python=PYTHON, default=False)
def image(session: nox.Session) -> None:
    """Build the backend, SUT and Prometheus images (needs a running dockerd).

    ``nox -s image`` bases them on official slim images from a registry;
    ``nox -s image -- --offline-base`` on bases made from this machine's apt sources
    (mmdebstrap + docker import), with no registry and no network in the build.
    """
    _install(session)
    session.run("python", "-m", "harness.substrates.images", *session.posargs)


DOCKER_SCENARIOS = ("scenarios/haproxy.yaml", "scenarios/replica-loss.yaml")


@nox.session(python=PYTHON, default=False)
def conformance_docker(session: nox.Session) -> None:
    """Shipped scenarios on the docker substrate (needs dockerd and ``nox -s image``).

    Each must get the verdict it gets on the local substrate (the one its file declares); by
    default HAProxy and nginx replica loss (chaos: a backend container is killed).
    """
    _install(session)
    session.run(
        "retry-harness",
        "conformance",
        "--substrate",
        "docker",
        "--report-dir",
        "reports/docker",
        *(session.posargs or DOCKER_SCENARIOS),
    )


@nox.session(python=PYTHON, default=False)
def ui(session: nox.Session) -> None:
    """A scenario's backends and SUT under Locust's web UI until Ctrl-C:
    ``nox -s ui -- scenarios/haproxy.yaml [--port 8089] [--workers N] [--substrate docker]``."""
    if not session.posargs:
        session.error("usage: nox -s ui -- SCENARIO.yaml [retry-harness ui options]")
    _install(session)
    session.run("retry-harness", "ui", *session.posargs)
