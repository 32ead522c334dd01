"""README's run command, started on a fresh clone, serves the login page and /healthz within a minute, the
manager's dashboard shows checkpoint 0 training as a run with its steps, and Ctrl+C stops it all within 10 s."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import screenshot

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.browser]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return None, ""


def dashboard_shows_checkpoint_0(browser, base_url):
    """manager1's dashboard lists checkpoint 0 as a run at once, then its steps as the worker trains it."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    try:
        page.goto("/login/?next=/")
        page.fill("input[name=username]", "manager1")
        page.fill("input[name=password]", "demo-pass")
        page.click("button[type=submit]")
        page.click("a[href$='/dashboard/']")
        row = page.locator("#runs tr", has_text="bootstrap")
        row.wait_for(timeout=15_000)  # listed as soon as the page has loaded: queued or running
        # Steps appear once the worker has built the model (torch import, corpus, tokenizer, encoded examples:
        # 30-80 s on 2 busy cores).
        page.wait_for_function(
            r"""() => [...document.querySelectorAll('#runs tr')].some(
                   (tr) => tr.textContent.includes('bootstrap') && /running/.test(tr.textContent)
                           && /\b([1-9]\d*)\/12000\b/.test(tr.textContent))""",
            timeout=300_000,
        )
        screenshot(page, "start-dashboard-checkpoint-0")
    finally:
        context.close()


def session_processes(session_id):
    """Pids of the live processes in session ``session_id`` (field 6 of /proc/PID/stat; zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def stops_on_ctrl_c(proc):
    """What a terminal's Ctrl+C does (SIGINT to the whole foreground group), while the worker is mid-training:
    seconds until start.sh returned and no process of its session was left."""
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=15)
    while session_processes(proc.pid) and time.monotonic() - started < 15:
        time.sleep(0.2)
    return time.monotonic() - started, session_processes(proc.pid)


def test_start_command_serves_login_and_healthz(tmp_path, browser):
    """scripts/start.sh on a fresh clone (venv reused) is up within 60 s; logins are printed; the dashboard
    shows checkpoint 0 as a training run with progress; Ctrl+C then stops every process within 10 s."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(VENV=str(Path(sys.executable).parent.parent), PORT=str(port), DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "start.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "scripts/start.sh"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        login = health = (None, "")
        while time.monotonic() < deadline and proc.poll() is None:
            login = fetch(f"http://127.0.0.1:{port}/login/")
            health = fetch(f"http://127.0.0.1:{port}/healthz")
            if login[0] == 200 and health[0] == 200:
                break
            time.sleep(1)
        output = log.read_text()
        assert login[0] == 200 and "Log in" in login[1], output[-3000:]
        assert health[0] == 200 and '"status": "ok"' in health[1], output[-3000:]
        assert f"http://127.0.0.1:{port}/" in output
        assert "annotator1" in output and "manager1" in output
        try:
            dashboard_shows_checkpoint_0(browser, f"http://127.0.0.1:{port}")
        except Exception:
            worker_log = tmp_path / "data" / "logs" / "worker.log"
            pytest.fail(f"checkpoint 0 not shown training; the worker's log:\n{worker_log.read_text()[-4000:]}")
        seconds, left = stops_on_ctrl_c(proc)
        assert seconds < 10 and not left, (seconds, left, log.read_text()[-2000:])
    finally:
        if session_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
