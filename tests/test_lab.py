"""`make lab` starts JupyterLab the way a learner meets it: headless, maybe as root.

The first test runs, in a fresh clone, the very command `make lab` runs (asked of make
itself with `make -n`, on a free port, with this venv taken as installed), waits for the
URL with its token on a line of its own, opens that URL and stops the server; the clone
then has the git filter installed and nothing modified. The others check, with stand-ins
for `id`, `python` and `jupyter`, what tools/lab.sh does before it starts JupyterLab (the
filter, the settings that keep JupyterLab's news pop-up away, the server's save hook) and
that `--allow-root` is passed to root and to nobody else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from processes import free_port, stop_group
from test_clean_checkout import fresh_clone

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180
# The line Jupyter prints for the learner to copy: only the URL, with its token.
URL_LINE = re.compile(r"^\s*(http://127\.0\.0\.1:(\d+)/lab\?token=(\w+))\s*$")


def _make_lab_command(port: int, cwd: Path) -> str:
    """The recipe of `make lab`, as make would run it (this venv is taken as installed)."""
    venv = Path(sys.prefix)
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", f"{venv}/.installed", "lab",
         f"VENV={venv}", f"LAB_PORT={port}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return lines[0]


def _open_when_up(url: str, deadline: float):
    """Open `url`, retrying refused connections until `deadline` (a loaded machine can
    refuse the first connection right after the server prints its URL)."""
    while True:
        try:
            return urllib.request.urlopen(url, timeout=30)
        except urllib.error.URLError as e:
            if not isinstance(e.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_at_the_url_it_prints(tmp_path):
    _, clone = fresh_clone(tmp_path)
    port = free_port()
    command = _make_lab_command(port, clone)
    assert "tools/lab.sh" in command
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server = subprocess.Popen(
        command,
        shell=True,
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in server.stdout:
            output.append(line)
            if URL_LINE.match(line):
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not found.wait(0.5):
            assert server.poll() is None, "make lab exited:\n" + "".join(output)
            assert time.monotonic() < deadline, "no URL after 180 s:\n" + "".join(output)
        url, url_port, token = next(m.groups() for m in map(URL_LINE.match, output) if m)
        assert int(url_port) == port
        page = _open_when_up(url, deadline)
        assert page.status == 200 and "JupyterLab" in page.read().decode()
        status_url = f"http://127.0.0.1:{port}/api/status?token={token}"
        with urllib.request.urlopen(status_url, timeout=30) as status:
            assert status.status == 200
    finally:
        stop_group(server)
        reader.join(timeout=5)
    text = "".join(output)
    assert "Running as root is not recommended" not in text
    assert "Traceback" not in text, text
    git = ["git", "-C", str(clone)]
    clean = subprocess.run([*git, "config", "filter.nbstripout.clean"], capture_output=True)
    assert b"-m nbstripout --keep-id" in clean.stdout, "make lab installed no git filter"
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == "", f"make lab modified the checkout:\n{status.stdout}"


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _lab_sh(tmp_path: Path, uid: str) -> tuple[list[str], dict[str, str], list[str]]:
    """Run tools/lab.sh with stand-ins: (jupyter lab's arguments, its environment, python's)."""
    app_dir = tmp_path / "app"
    _stub(tmp_path, "id", f'[ "$1" = -u ] && echo {uid}')
    _stub(tmp_path, "python", f'printf "%s\\n" "$@" > {tmp_path}/python-args')
    _stub(
        tmp_path,
        "jupyter",
        f'if [ "$1 $2" = "lab path" ]; then echo "Application directory:   {app_dir}"; exit; fi\n'
        'printf "%s\\n" "$@"; echo "--env JUPYTER_CONFIG_PATH=$JUPYTER_CONFIG_PATH"',
    )
    env = dict(
        os.environ,
        PATH=f"{tmp_path}:{os.environ['PATH']}",
        JUPYTER=str(tmp_path / "jupyter"),
        LAB_PORT="8890",
    )
    env.pop("JUPYTER_CONFIG_PATH", None)
    lines = subprocess.run(
        ["sh", str(REPO / "tools" / "lab.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    args = [line for line in lines if line and not line.startswith("--env ")]
    shown = dict(line[len("--env ") :].split("=", 1) for line in lines if line.startswith("--env "))
    return args, shown, (tmp_path / "python-args").read_text().split()


@pytest.mark.parametrize("uid, allow_root", [("0", True), ("1000", False)])
def test_lab_passes_allow_root_to_root_only(tmp_path, uid, allow_root):
    args, _, _ = _lab_sh(tmp_path, uid)
    assert ("--allow-root" in args) is allow_root
    assert args[0] == "lab" and args[-1] == "chapters/"
    assert "--no-browser" in args and "--port=8890" in args


def test_lab_installs_the_git_filter_the_save_hook_and_no_news_before_it_starts(tmp_path):
    _, env, python_args = _lab_sh(tmp_path, "1000")
    assert python_args == ["tools/notebook_form.py", "--install-filter"]
    assert env["JUPYTER_CONFIG_PATH"] == str(REPO / "tools" / "jupyter")
    assert (REPO / "tools" / "jupyter" / "jupyter_server_config.py").exists()
    overrides = tmp_path / "app" / "settings" / "overrides.d" / "d2l-course.json"
    settings = json.loads(overrides.read_text())
    assert settings == json.loads((REPO / "tools" / "jupyterlab-overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
