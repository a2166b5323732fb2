"""The "Retries" tab, the fault-controls page and the downloads of a ``retry-harness ui`` session.

Active only in the Locust process that has the web UI and only when ``retry-harness ui`` set
``RETRY_HARNESS_UI_SESSION`` (the session folder); a plain ``locust -f`` run is unchanged.
Everything goes through Locust's own extension points (Locust 2.47, ``locust/web.py`` and the
React bundle ``locust/webui/dist/assets/src-*.js``):

- ``web_ui.template_args``: ``extended_tabs`` (the "Retries" tab), ``extended_tables`` (its
  columns), ``extended_csv_files`` (links in the "Download Data" tab);
- an ``after_request`` hook adds ``extended_stats`` rows to ``/stats/requests``, which the UI
  polls every 2 s (so the tab refreshes while the test runs and after it stops);
- Flask routes under ``/retries/`` on ``web_ui.app``: the fault-controls page (with plots), its
  form target, the live JSON and the downloads;
- the ``reset_stats`` and ``test_start`` events: a reset of Locust's statistics (or a new test)
  starts a new judged span.

The verdict itself is computed outside Locust by ``harness.live_judge`` (in the
``retry-harness ui`` process): this module only reads ``live.json`` and the epoch folders, and
writes the control log (``control.ndjson``) when the user changes faults or resets.
Fault changes go to every replica's admin API from here, with the admin token read from the
session file: the token never reaches the browser.
"""

from __future__ import annotations

import html
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Response, jsonify, redirect, request
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from fake_backends.admin_client import AdminClient
from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.fault_form import profile_from_form
from harness.live_judge import CONTROL_FILE, LIVE_FILE, SESSION_FILE
from harness.processes.locust import ENV_UI_SESSION
from scenarios.locust_support.web_pages import FAULT_PAGE, TAB_SCRIPT

TAB_KEY = "retries"
COLUMNS = [
    ("section", "Section"),
    ("item", "Item"),
    ("state", "State"),
    ("observed", "Observed"),
    ("model", "Model / declared"),
    ("detail", "Evidence"),
]


class Session:
    """The session folder as this process sees it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        info = json.loads((folder / SESSION_FILE).read_text())
        self.info = info
        self.admins = [
            AdminClient(r["admin_url"], token=info.get("admin_token"), timeout=5.0)
            for r in info["replicas"]
        ]
        self._live: dict[str, Any] = {}
        self._mtime = 0.0

    def live(self) -> dict[str, Any]:
        path = self.folder / LIVE_FILE
        try:
            mtime = path.stat().st_mtime
            if mtime != self._mtime:
                self._live = json.loads(path.read_bytes())
                self._mtime = mtime
        except (OSError, ValueError):
            pass
        return self._live

    def control(self, event: dict[str, Any]) -> None:
        with (self.folder / CONTROL_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def current_profile(self) -> FaultProfile:
        return self.admins[0].get_faults()

    def apply(self, profile: FaultProfile) -> list[str]:
        """PUT the profile on every replica; log the change with its time bounds."""
        errors: list[str] = []
        before = time.time_ns() // 1000
        for i, admin in enumerate(self.admins):
            try:
                admin.put_faults(profile)
            except Exception as exc:  # any failure is shown to the user, never raised
                errors.append(f"r{i}: {exc}")
        after = time.time_ns() // 1000
        self.control(
            {
                "kind": "faults",
                "before_us": before,
                "after_us": after,
                "profile": json.loads(profile.model_dump_json()),
                "errors": errors,
            }
        )
        return errors

    def epoch_dir(self, which: str | None) -> Path | None:
        live = self.live()
        epochs = [e for e in live.get("epochs", []) if e.get("verdict")]
        if not epochs:
            return None
        chosen = epochs[-1]
        if which not in (None, "", "latest"):
            chosen = next((e for e in epochs if str(e["index"]) == which), None)
            if chosen is None:
                return None
        path = self.folder / "epochs" / f"epoch-{chosen['index']}"
        return path if path.is_dir() else None


# -- the tab's rows --------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def profile_text(profile: dict[str, Any]) -> str:
    """A fault profile in one line (what the tab's epoch rows show)."""
    parts = [f"fail {_pct(profile.get('failure_rate', 0.0))}"]
    mix = profile.get("failure_status") or {}
    parts.append("status " + ",".join(f"{s}:{w:.2g}" for s, w in mix.items()))
    if profile.get("hang_rate"):
        parts.append(f"hang {_pct(profile['hang_rate'])} ≤{profile.get('hang_s')}s")
    if profile.get("reset_rate"):
        parts.append(f"reset {_pct(profile['reset_rate'])}")
    lat = profile.get("latency") or {}
    if lat.get("kind", "none") != "none":
        parts.append(f"latency {lat['kind']}")
    if profile.get("retry_after"):
        parts.append(f"Retry-After {profile['retry_after']}")
    return "; ".join(parts)


def _clock(t_us: int | None) -> str:
    if not t_us:
        return "now"
    return time.strftime("%H:%M:%S", time.localtime(t_us / 1e6))


def _row(
    section: str, item: str, state: str = "", observed: Any = "", model: Any = "", detail: str = ""
) -> dict[str, Any]:
    return {
        "section": section,
        "item": item,
        "state": state,
        "observed": str(observed),
        "model": str(model),
        "detail": detail,
    }


def _check(verdict: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in verdict.get("checks", []) if c.get("name") == name), None)


def tab_rows(live: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the Retries tab from ``live.json`` (see ``harness.live_judge``)."""
    if not live:
        return [_row("session", "waiting for the first judgement", "…")]
    rows: list[dict[str, Any]] = []
    if live.get("error"):
        rows.append(_row("session", "live judge", "error", detail=live["error"]))
        return rows
    share = live.get("share", {})
    n, judged = share.get("requests", 0), share.get("judged", 0)
    rows.append(
        _row(
            "session",
            "share judged",
            "",
            f"{judged} of {n} requests" + (f" ({_pct(judged / n)})" if n else ""),
            "",
            f"{share.get('straddling', 0)} straddle a fault change (not judged); "
            f"{share.get('pending', 0)} ended < {share.get('settle_s', 2):g} s ago (judged next); "
            "fault controls and plots: ./retries/faults",
        )
    )
    for err in live.get("journal_errors", []):
        rows.append(_row("session", "journal", "error", detail=err))
    epochs = live.get("epochs", [])
    for e in epochs:
        verdict = e.get("verdict") or {}
        rows.append(
            _row(
                "epoch",
                f"epoch {e['index']} ({e['cause']})"
                + ("" if e.get("current", True) else " (earlier test)"),
                verdict.get("outcome", "no requests yet"),
                f"{e['judged']} requests judged",
                profile_text(e["profile"]),
                f"{_clock(e['start_us'])} – {_clock(e.get('end_us'))}; downloads: "
                f"./retries/download/verdict.json?epoch={e['index']}",
            )
        )
    current = next(
        (e for e in reversed(epochs) if e.get("verdict") and e.get("current", True)), None
    )
    if current is not None:
        rows += _verdict_rows(current)
    rows += _policy_rows(live.get("policy", {}))
    return rows


def _verdict_rows(epoch: dict[str, Any]) -> list[dict[str, Any]]:
    verdict = epoch["verdict"]
    tag = f"epoch {epoch['index']}"
    rows = []
    for c in verdict.get("checks", []):
        stat = c.get("stat") or {}
        observed = c.get("summary", "")
        if stat:
            observed += (
                f" (p={stat.get('p_value', 0):.3g}, n={stat.get('n')}/{stat.get('n_planned')})"
            )
        rows.append(
            _row(
                f"check · {tag}",
                c.get("title") or c["name"],
                c["outcome"],
                observed,
                "",
                " | ".join(c.get("evidence", [])[:3]),
            )
        )
    dist = (_check(verdict, "attempt_distribution") or {}).get("data") or {}
    if dist.get("attempts"):
        total = sum(dist["observed"]) or 1
        for k, seen, p in zip(dist["attempts"], dist["observed"], dist["expected"], strict=False):
            rows.append(
                _row(
                    f"attempts per request · {tag}",
                    f"{k} attempt{'s' if k != 1 else ''}",
                    "",
                    f"{seen} ({_pct(seen / total)})",
                    f"{_pct(p)} expected",
                )
            )
    win = (_check(verdict, "backoff_window") or {}).get("data") or {}
    for k, block in sorted((win.get("per_index") or {}).items(), key=lambda kv: int(kv[0])):
        delays = sorted(block.get("delays_s") or [])
        if delays:
            med = delays[len(delays) // 2]
            p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
            seen = f"median {med * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms (n={len(delays)})"
        else:
            seen = "no delays yet"
        rows.append(
            _row(
                f"delay before retry · {tag}",
                f"retry {k}",
                "",
                seen,
                f"window [{block['lo_s'] * 1e3:.1f}, {block['hi_s'] * 1e3:.1f}] ms",
            )
        )
    sr = (_check(verdict, "success_rate") or {}).get("data") or {}
    if sr.get("n"):
        lo, hi = sr["ci"]
        rows.append(
            _row(
                f"success rate · {tag}",
                "client successes",
                (_check(verdict, "success_rate") or {}).get("outcome", ""),
                f"{sr['successes']}/{sr['n']} = {_pct(sr['successes'] / sr['n'])} "
                f"[{_pct(lo)}, {_pct(hi)}]",
                f"{_pct(sr['expected_p'])} by the model",
            )
        )
    return rows


def _policy_rows(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    declared = policy.get("policy", {})
    for key, value in declared.items():
        if isinstance(value, (dict, list)) and not value:
            continue
        rows.append(
            _row(
                "declared policy",
                key,
                "",
                "",
                json.dumps(value)[:160],
                f"read by the {policy.get('system')} adapter",
            )
        )
    for w in policy.get("windows", []):
        rows.append(
            _row(
                "declared policy",
                f"delay before retry {w['retry']}",
                "",
                "",
                f"[{w['lo_s'] * 1e3:.1f}, {w['hi_s'] * 1e3:.1f}] ms",
            )
        )
    for note in policy.get("notes", []):
        rows.append(
            _row(
                "adapter note",
                note.get("field", ""),
                note.get("kind", ""),
                "",
                "",
                note.get("text", ""),
            )
        )
    return rows


# -- wiring ----------------------------------------------------------------------------------


def _zip(folder: Path, arc_root: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"{arc_root}/{path.relative_to(folder)}")
    return buf.getvalue()


def install(environment: Environment, session: Session) -> None:
    """Add the tab, the routes and the hooks to this process's web UI."""
    web_ui = environment.web_ui
    assert web_ui is not None
    app: Any = web_ui.app  # Flask's decorators are untyped
    auth: Any = web_ui.auth_required_if_enabled
    web_ui.template_args.update(
        {
            "extended_tabs": [{"title": "Retries", "key": TAB_KEY}],
            "extended_tables": [
                {"key": TAB_KEY, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}
            ],
            "extended_csv_files": [
                {"href": "./retries/faults", "title": "Retries: fault controls and plots"},
                {"href": "./retries/download/verdict.json", "title": "Retries: verdict (JSON)"},
                {"href": "./retries/download/report.html", "title": "Retries: HTML report"},
                {"href": "./retries/download/run.zip", "title": "Retries: run folder (zip)"},
            ],
        }
    )

    def _extend(resp: Response) -> Response:
        if request.path.endswith("/stats/requests") and resp.is_json:
            data = resp.get_json()
            data["extended_stats"] = [{"key": TAB_KEY, "data": tab_rows(session.live())}]
            resp.set_data(json.dumps(data))
        elif request.path == "/" and resp.mimetype == "text/html" and not resp.direct_passthrough:
            body = resp.get_data(as_text=True)
            tag = '<script src="./retries/tab.js"></script>'
            if tag not in body:
                resp.set_data(body.replace("</body>", tag + "</body>"))
        return resp

    def _tab_js() -> Response:
        return Response(TAB_SCRIPT, mimetype="text/javascript")

    def _live() -> Response:
        return jsonify(session.live())

    def _faults_page() -> Response:
        try:
            current = session.current_profile()
            profile_json = current.model_dump_json()
            error = request.args.get("error", "")
        except Exception as exc:  # shown on the page
            profile_json, error = "{}", f"cannot read the current profile: {exc}"
        page = FAULT_PAGE.replace("__PROFILE__", html.escape(profile_json, quote=False))
        page = page.replace("__ERROR__", html.escape(error))
        page = page.replace("__SCENARIO__", html.escape(str(session.info.get("scenario"))))
        replicas = ", ".join(r["name"] for r in session.info["replicas"])
        page = page.replace("__REPLICAS__", html.escape(replicas))
        return Response(page, mimetype="text/html")

    def _faults_apply() -> Any:
        form = {k: str(v) for k, v in (request.get_json(silent=True) or request.form).items()}
        try:
            profile = profile_from_form(session.current_profile(), form)
        except BadInput as exc:
            text = str(exc)
            if request.is_json:
                return jsonify(ok=False, error=text), 400
            return redirect(f"./faults?error={quote(text)}", code=303)
        errors = session.apply(profile)
        if request.is_json:
            return jsonify(
                ok=not errors, errors=errors, profile=json.loads(profile.model_dump_json())
            )
        failed = f"?error={quote('; '.join(errors))}" if errors else ""
        return redirect("./faults" + failed, code=303)

    def _download(name: str) -> Any:
        """One file of an epoch; a folder the live judge swaps away meanwhile is a one-line 404,
        a report that takes too long a one-line 503, never a 500 with a traceback."""
        try:
            return _download_now(name)
        except (FileNotFoundError, NotADirectoryError):
            return Response(
                "that epoch is being judged again right now; ask again in a second\n",
                404,
                mimetype="text/plain",
            )
        except subprocess.TimeoutExpired as exc:
            return Response(
                f"the report took more than {exc.timeout:g} s on this machine; ask again\n",
                503,
                mimetype="text/plain",
            )

    def _download_now(name: str) -> Any:
        which = request.args.get("epoch")
        if name == "run.zip" and which == "all":
            root = session.folder / "epochs"
            if not root.is_dir():
                return Response("no epoch judged yet\n", status=404, mimetype="text/plain")
            return _attachment(_zip(root, "epochs"), "epochs.zip", "application/zip")
        epoch = session.epoch_dir(which)
        if epoch is None:
            return Response("no judged epoch yet (or no such epoch)\n", 404, mimetype="text/plain")
        tag = epoch.name
        if name == "verdict.json":
            return _attachment(
                (epoch / "verdict.json").read_bytes(), f"verdict-{tag}.json", "application/json"
            )
        if name == "run.zip":
            return _attachment(_zip(epoch / "run", "run"), f"run-{tag}.zip", "application/zip")
        if name == "report.html":
            with tempfile.TemporaryDirectory() as tmp:
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "harness.cli",
                        "verify",
                        str(epoch / "run"),
                        "--report-dir",
                        tmp,
                    ],
                    capture_output=True,
                    timeout=120,
                )
                report = Path(tmp) / "report.html"
                if not report.exists():
                    lines = done.stderr.decode(errors="replace").strip().splitlines()
                    message = lines[-1] if lines else f"exit {done.returncode}"
                    return Response(f"report failed: {message}\n", 500, mimetype="text/plain")
                return _attachment(report.read_bytes(), f"report-{tag}.html", "text/html")
        return Response("unknown download\n", status=404, mimetype="text/plain")

    app.after_request(_extend)
    app.add_url_rule("/retries/tab.js", "tab_js_get", auth(_tab_js), methods=["GET"])
    app.add_url_rule("/retries/live.json", "live_get", auth(_live), methods=["GET"])
    app.add_url_rule("/retries/faults", "faults_page_get", auth(_faults_page), methods=["GET"])
    app.add_url_rule("/retries/faults", "faults_apply_post", auth(_faults_apply), methods=["POST"])
    app.add_url_rule("/retries/download/<name>", "download_get", auth(_download), methods=["GET"])


def _attachment(data: bytes, filename: str, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return resp


_SESSION: Session | None = None


def _on_init(environment: Environment, **_: Any) -> None:
    global _SESSION
    folder = os.environ.get(ENV_UI_SESSION)
    if not folder or environment.web_ui is None or isinstance(environment.runner, WorkerRunner):
        return
    _SESSION = Session(Path(folder))
    install(environment, _SESSION)


def _reset(why: str) -> None:
    if _SESSION is not None:
        _SESSION.control({"kind": "reset", "t_us": time.time_ns() // 1000, "why": why})


def _on_reset_stats(**_: Any) -> None:
    _reset("Locust statistics reset")


def _on_test_start(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        _reset("new test started")


_LISTENERS: dict[str, Any] = {
    "init": _on_init,
    "reset_stats": _on_reset_stats,
    "test_start": _on_test_start,
}
for _event, _listener in _LISTENERS.items():
    _hook: Any = getattr(events, _event)
    _hook.add_listener(_listener)
