"""What the real-browser tests (tests/test_browser*.py) share: Debian's Chromium driven by Playwright, a Streamlit
app server over a store of its own, and the page helpers. The session-wide fixtures over these (one Chromium, one
app that trains and one that does not) are in conftest.py; a server start costs seconds, a Chromium start one."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_store_processes(store_root: Path) -> None:
    """Kill the dispatcher, the predictor and the workers of a test's store (they run in their own sessions by
    design)."""
    from training.service.store import Store

    pids = []
    for name in ("dispatcher.lock", "predictor.lock"):  # the dispatcher, and Try it's predictor
        lock = store_root / name
        if lock.exists() and lock.read_text().strip().isdigit():
            pids.append(int(lock.read_text().strip()))
    pids += [r.pid for r in Store(store_root).runs(status="running") if r.pid]
    for pid in pids:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def serve(tmp_path: Path, **extra_env):
    """A generator: start `streamlit run app.py` over `tmp_path/store`, yield (url, store root) once it is healthy;
    resumed, stop the server and whatever it started in the store."""
    store = tmp_path / "store"
    port = _free_port()
    env = {**os.environ, "HEADSTART_STORE": str(store), **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                             "--global.developmentMode", "false"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.25)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("streamlit did not become healthy within 90 s")
    try:
        yield url, store
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        stop_store_processes(store)


def launch_chromium():
    """A generator: yield a headless Chromium, then close it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def loaded(page, timeout=120_000):
    page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout)
    page.wait_for_selector("[data-test-script-state='notRunning']", timeout=timeout)


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def progress_text(page) -> str:
    return page.locator("[data-testid='stProgress']").first.inner_text(timeout=60_000)


def wait_until(predicate, timeout: float, poll: float = 0.5):
    """Poll `predicate` until it is true or `timeout` seconds pass; its last value."""
    deadline = time.time() + timeout
    while not (value := predicate()) and time.time() < deadline:
        time.sleep(poll)
    return value

