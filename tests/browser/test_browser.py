"""The web UI in real headless Chromium (Playwright on Debian's chromium): ``retry-harness ui``
on a shipped scenario, a test started from Locust's form, the failure rate changed on our fault
page, the Retries tab and the plots following it, the verdict and run folder downloaded (and
equal to ``retry-harness verify`` on that folder), and Ctrl-C leaving nothing running.

Screenshots are kept under ``reports/ui/`` (test artifacts). Skipped, with the reason, when
Playwright or chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "haproxy.yaml"
ARTIFACTS = ROOT / "reports" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)
if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip("chromium is missing (apt-get install chromium)", allow_module_level=True)
if shutil.which("haproxy") is None:  # pragma: no cover - depends on the machine
    pytest.skip("haproxy is missing (apt-get install haproxy)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_processes(folder: Path) -> list[psutil.Process]:
    """Every live process whose command line names the session folder (backends, SUT, Locust)."""
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(str(folder) in part for part in proc.info["cmdline"] or ()):
                out.append(proc)
        except psutil.Error:
            continue
    return out


@pytest.fixture
def ui_session(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = _free_port()
    folder = tmp_path / "session"
    log = (tmp_path / "ui.log").open("wb")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "harness.cli", "ui", str(SCENARIO), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--dir", str(folder)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()
            assert time.monotonic() < deadline, "the web UI did not come up in 120 s"
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        yield {"proc": proc, "url": url, "folder": folder, "log": tmp_path / "ui.log"}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        for leftover in _session_processes(folder):
            leftover.kill()


def _live(url: str) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(url + "retries/live.json", timeout=5).json()
    return data


def _wait(what: str, predicate: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _attempts_plot(page: Page) -> str:
    return str(page.locator("#attempts-plot").inner_html())


def test_ui_session_in_chromium(ui_session: dict[str, Any], tmp_path: Path) -> None:
    url = ui_session["url"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
        page.goto(url)
        # Locust's own start form, with our --rh-* options in "Custom parameters".
        page.get_by_text("Custom parameters").click()
        page.locator("input[name=rhRequests]").fill("0")  # no budget: run until stopped
        page.get_by_role("button", name=re.compile("start", re.I)).click()
        page.get_by_role("tab", name="Retries").click()
        expect(page.get_by_role("cell", name=re.compile(r"^epoch 1 \(new test"))).to_be_visible(
            timeout=90_000
        )
        _wait("a verdict for epoch 1", lambda: any(e["verdict"] for e in _live(url)["epochs"]))
        expect(page.get_by_role("cell", name="Attempts bound").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "retries-tab-before.png"), full_page=True)

        # Our fault page, linked from the tab.
        page.get_by_role("link", name="Fault controls and plots").click()
        expect(page.locator("#checks tbody tr").first).to_be_visible(timeout=30_000)
        expect(page.locator("#attempts-plot .bar").first).to_be_attached(timeout=30_000)
        before_plot = _attempts_plot(page)
        before_checks = page.locator("#checks-title").inner_text()
        assert "epoch 1" in before_checks
        page.locator("#failure_rate").fill("0.6")
        page.locator("#apply").click()
        applied = time.monotonic()

        # The Retries tab shows the new epoch (profile and verdict) ...
        page.goto(url + "?tab=retries")
        row = page.get_by_role("row").filter(has_text=re.compile(r"epoch 2 \(faults set\)"))
        expect(row).to_contain_text("fail 60.0 %", timeout=90_000)
        expect(row).to_contain_text(re.compile(r"[1-9]\d* requests judged"), timeout=90_000)
        tab_latency = time.monotonic() - applied
        page.screenshot(path=str(ARTIFACTS / "retries-tab-after.png"), full_page=True)

        # ... and so do the checks and plots on the fault page.
        page.goto(url + "retries/faults")
        expect(page.locator("#checks-title")).to_contain_text("epoch 2", timeout=60_000)
        expect(page.locator("#epochs")).to_contain_text("fail 60.0 %")
        _wait("the attempts plot to change", lambda: _attempts_plot(page) != before_plot, 30)
        page.screenshot(path=str(ARTIFACTS / "fault-page.png"), full_page=True)

        # Resetting Locust's statistics starts a new judged span; the profile in force (60 %)
        # stays, and the earlier epochs stay judged and downloadable (marked "earlier test").
        page.goto(url + "?tab=retries")
        page.get_by_role("button", name=re.compile("^reset$", re.I)).click()
        reset_row = page.get_by_role("row").filter(has_text="Locust statistics reset")
        expect(reset_row).to_contain_text("fail 60.0 %", timeout=60_000)
        live = _live(url)
        assert [e["cause"] for e in live["epochs"] if e["current"]] == ["Locust statistics reset"]
        assert live["share"]["before_reset"] > 0
        earlier = [e for e in live["epochs"] if not e["current"] and e["verdict"]]
        assert earlier, live["epochs"]
        old = requests.get(
            url + f"retries/download/verdict.json?epoch={earlier[-1]['index']}", timeout=30
        )
        assert old.status_code == 200 and old.json()["outcome"] == earlier[-1]["verdict"]["outcome"]

        # the span after the reset is judged before the test stops (on a loaded machine the
        # stop could otherwise come before its first request was judged: CI saw epoch 2)
        _wait(
            "a verdict for the span after the reset",
            lambda: any(e["current"] and e["verdict"] for e in _live(url)["epochs"]),
            90,
        )

        # Stop the test from Locust's UI; wait until nothing is pending any more.
        page.goto(url)
        page.get_by_role("button", name=re.compile("^stop$", re.I)).click()

        def settled() -> bool:
            a = _live(url)
            time.sleep(2.5)
            b = _live(url)
            return bool(b["share"]["pending"] == 0 and a["share"]["judged"] == b["share"]["judged"])

        _wait("the judge to settle", settled, 60)
        page.goto(url + "retries/faults")
        with page.expect_download() as got:
            page.get_by_role("link", name="verdict JSON").click()
        verdict_path = tmp_path / "verdict.json"
        got.value.save_as(verdict_path)
        with page.expect_download() as got:
            page.get_by_role("link", name="run folder (zip)").click()
        zip_path = tmp_path / "run.zip"
        got.value.save_as(zip_path)

        browser.close()

    print(f"\ntab showed the fault change after {tab_latency:.1f} s")
    verdict = json.loads(verdict_path.read_text())
    assert "UI epoch 3" in verdict["scenario"]  # the span after the reset
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp_path / "unzipped")
    run = tmp_path / "unzipped" / "run"
    assert json.loads((run / "profile.json").read_text())["failure_rate"] == 0.6
    out = tmp_path / "verified"
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "verify", str(run), "--report-dir", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode in (0, 1, 3), done.stderr
    assert json.loads((out / "verdict.json").read_text()) == verdict

    # Ctrl-C ends the session and leaves nothing running.
    proc = ui_session["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, ui_session["log"].read_text()
    assert not _session_processes(ui_session["folder"])
    with pytest.raises(requests.RequestException):
        requests.get(url, timeout=2)
