"""Real-browser test: JupyterLab in Chromium runs the chapters, and a slider redraws its plot.

Starts the venv's JupyterLab on 127.0.0.1 (a free port, a random token) over a copy of
`chapters/` with the outputs cleared, and drives Debian's Chromium (/usr/bin/chromium)
headless through Playwright. Each notebook is opened, run with "Run All Cells" and
checked for error outputs, in its cells and in its widgets' output areas. In the
momentum chapter the learning-rate slider is then dragged with the mouse: the figure (the
explorer's image widget) must change before the button is released, and keep its size;
then two arrow-key presses must move the slider, the figure and the printed final point.
Screenshots (one mid-drag) and the server's log go to test-artifacts/browser/. Every
process started here is stopped, pass or fail.

Skipped, with the reason, only when /usr/bin/chromium is missing (`.ci/run` installs it);
with the environment variable CI set, its absence is a failure instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, sync_playwright
from processes import free_port, stop_group

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_START_TIMEOUT_S = 120
KERNEL_START_TIMEOUT_S = 180
RUN_ALL_TIMEOUT_S = 480
WIDGETS_RENDER_TIMEOUT_S = 60
REDRAW_TIMEOUT_S = 90
FINAL_POINT = re.compile(r"step \d+, x1: \S+, x2: \S+")
TRACEBACK = "Traceback (most recent call last)"  # in every traceback IPython shows
# JupyterLab user settings: no news or update checks (no requests to the web), and every
# cell kept in the page (no windowing) so that all outputs can be inspected.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def _chapter(pattern: str) -> Path | None:
    return next(iter(sorted(CHAPTERS.glob(pattern))), None)


# ---------------------------------------------------------------- JupyterLab server


@dataclass
class Lab:
    url: str
    token: str

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_state(self, kernel_id: str) -> str:
        return self.api("GET", f"/api/kernels/{kernel_id}")["execution_state"]


def _copy_chapters(root: Path) -> None:
    """Copy chapters/ to `root` with outputs cleared: the server never writes to the repo."""
    shutil.copytree(
        CHAPTERS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    for path in root.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, path)


def _stray_processes(marker: str) -> list[int]:
    """Processes whose command line names `marker` (this server's own runtime folder)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
    return [pid for pid in pids if pid != os.getpid()]


def require_chromium() -> None:
    """Skip, with the reason, where Debian's Chromium is missing; in CI, fail instead."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (`.ci/run` does) to run this"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI is set and {reason}", pytrace=False)  # CI must not pass by skipping
        print(f"SKIP: {reason}")
        pytest.skip(reason)


@contextlib.contextmanager
def chromium_context(tmp_path_factory):
    """Debian's Chromium, headless, with a fresh profile; closed afterwards."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a copy of chapters/, with its own config, stopped afterwards."""
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    _copy_chapters(root)
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the kernel uses the inline backend, as a learner's does
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    token, port = secrets.token_hex(24), free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = ARTIFACTS / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = Lab(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError):
                lab.api("GET", "/api/status")
                break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterLab did not start within {LAB_START_TIMEOUT_S} s "
                    f"(exit code {server.poll()}); its log, {log_path}:\n"
                    + log_path.read_text()[-4000:]
                )
            time.sleep(0.5)
        yield lab
    finally:
        with contextlib.suppress(OSError, ValueError):
            for kernel in lab.api("GET", "/api/kernels"):
                lab.api("DELETE", f"/api/kernels/{kernel['id']}")
        stop_group(server, grace_s=20)
        for pid in _stray_processes(str(home / "runtime")):  # kernels the server left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    """Debian's Chromium, headless, with a fresh profile; closed afterwards."""
    with chromium_context(tmp_path_factory) as context:
        yield context


# ---------------------------------------------------------------- notebooks in the page

# The notebook panel showing `name`, once JupyterLab (exposed as window.jupyterapp) is up.
PANEL_JS = """name => window.jupyterapp && window.jupyterapp.shell
    && Array.from(window.jupyterapp.shell.widgets('main'))
        .find(w => w.context && w.context.path === name && w.content && w.content.model)"""


@dataclass
class Notebook:
    page: Page
    name: str
    kernel_id: str

    def js(self, body: str, arg=None):
        """Evaluate `body`, a function of (panel, arg), on this notebook's panel."""
        script = f"([name, arg]) => ({body})(({PANEL_JS})(name), arg)"
        return self.page.evaluate(script, [self.name, arg])

    def screenshot(self, label: str) -> Path:
        path = ARTIFACTS / f"{Path(self.name).stem}-{label}.png"
        self.page.screenshot(path=str(path))
        return path


@contextlib.contextmanager
def open_notebook(browser, lab: Lab, name: str):
    """Open `name` in JupyterLab and wait for its kernel; shut the kernel down afterwards."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # also for test_clean_checkout, on its own worker
    page = browser.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    nb = Notebook(page, name, kernel_id="")
    try:
        page.goto(f"{lab.url}/lab/tree/{urllib.parse.quote(name)}?reset&token={lab.token}")
        try:
            page.wait_for_function(
                f"""name => {{ const p = ({PANEL_JS})(name); const k = p && p.sessionContext.session
                    && p.sessionContext.session.kernel;
                    return k && k.status === 'idle' && k.connectionStatus === 'connected'; }}""",
                arg=name,
                timeout=KERNEL_START_TIMEOUT_S * 1000,
            )
        except Exception as exc:
            raise AssertionError(
                f"{name}: the notebook did not open with an idle kernel within "
                f"{KERNEL_START_TIMEOUT_S} s; see {ARTIFACTS}/"
            ) from exc
        nb.kernel_id = nb.js("p => p.sessionContext.session.kernel.id")
        yield nb
    except BaseException:
        with contextlib.suppress(Exception):
            nb.screenshot("failure")
        raise
    finally:
        (ARTIFACTS / f"{Path(name).stem}-console.log").write_text("\n".join(console) + "\n")
        with contextlib.suppress(Exception):
            page.close()
        if nb.kernel_id:
            with contextlib.suppress(OSError):
                lab.api("DELETE", f"/api/kernels/{nb.kernel_id}")


def wait_kernel_idle(lab: Lab, nb: Notebook, timeout_s: float, what: str) -> None:
    """Poll the server's REST API until the kernel reports idle twice in a row."""
    deadline, idle_polls, state = time.monotonic() + timeout_s, 0, "?"
    while idle_polls < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"{nb.name}: the kernel was still {state} {timeout_s} s {what}")
        state = lab.kernel_state(nb.kernel_id)
        idle_polls = idle_polls + 1 if state == "idle" else 0
        time.sleep(0.3)


def run_all(lab: Lab, nb: Notebook) -> None:
    """Run All Cells, wait for the kernel to go idle and the widgets to render."""
    nb.js("""p => {
        window.__d2lRun = {done: false};
        window.jupyterapp.shell.activateById(p.id);
        window.jupyterapp.commands.execute('notebook:run-all-cells').then(
            ok => { window.__d2lRun = {done: true, ok}; },
            err => { window.__d2lRun = {done: true, ok: false, error: String(err)}; });
    }""")
    start = time.monotonic()
    try:
        nb.page.wait_for_function("() => window.__d2lRun.done", timeout=RUN_ALL_TIMEOUT_S * 1000)
    except Exception as exc:
        progress = nb.js("""p => Array.from(p.content.model.cells).filter(c => c.type === 'code')
            .map(c => c.executionCount)""")
        raise AssertionError(
            f"{nb.name}: Run All Cells did not finish within {RUN_ALL_TIMEOUT_S} s; execution "
            f"counts of the code cells so far: {progress}"
        ) from exc
    wait_kernel_idle(lab, nb, 60, "after Run All Cells finished")
    print(f"{nb.name}: ran all cells in {time.monotonic() - start:.1f} s")
    # Every widget view is drawn (or shows its error) and every explorer's figure is loaded.
    try:
        nb.page.wait_for_function(
            """() => Array.from(document.querySelectorAll(
                    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]'))
                .every(o => o.querySelector('.jupyter-widgets') || o.textContent.includes('Error'))
              && Array.from(document.querySelectorAll('img.widget-image'))
                .every(i => i.complete && i.naturalWidth > 0)""",
            timeout=WIDGETS_RENDER_TIMEOUT_S * 1000,
        )
    except Exception as exc:
        raise AssertionError(
            f"{nb.name}: the widgets were not drawn within {WIDGETS_RENDER_TIMEOUT_S} s"
        ) from exc


def errors_in_outputs(nb: Notebook) -> list[str]:
    """Error outputs of the cells (from the notebook model) and of the widgets' output areas."""
    cells = nb.js("""p => Array.from(p.content.model.cells).map((c, i) => ({
        index: i, type: c.type, count: c.type === 'code' ? c.executionCount : null,
        errors: c.type === 'code' ? c.outputs.toJSON().filter(o => o.output_type === 'error')
            .map(o => `${o.ename}: ${o.evalue}`) : []}))""")
    problems = [f"cell {c['index']}: {e}" for c in cells for e in c["errors"]]
    problems += [
        f"cell {c['index']} was not run"
        for c in cells
        if c["type"] == "code" and c["count"] is None
    ]
    shown = nb.page.evaluate(
        """traceback => Array.from(document.querySelectorAll(
            '.jp-OutputArea-output'))
        .map(o => o.innerText)
        .filter(t => t.includes(traceback) || t.includes('Error displaying widget'))""",
        TRACEBACK,
    )
    problems += [f"shown in the page:\n{text[:3000]}" for text in dict.fromkeys(shown)]
    return problems


# ---------------------------------------------------------------- the tests

RENDERED = [CHAPTERS / "00_setup.ipynb", *filter(None, [_chapter("08_*.ipynb")])]


@pytest.mark.parametrize("chapter", RENDERED, ids=lambda p: p.stem)
def test_chapter_runs_in_jupyterlab_without_errors(lab, browser, chapter: Path):
    with open_notebook(browser, lab, chapter.name) as nb:
        run_all(lab, nb)
        problems = errors_in_outputs(nb)
        nb.screenshot("after-run")
        assert not problems, f"{chapter.name} in JupyterLab:\n" + "\n".join(problems)


# The explorer d2l.explore shows: its sliders, then the box with the image widget (the
# figure) and the HTML widget (the printed text); `name` picks it by a slider's label.
EXPLORER_JS = """([label]) => {
    const slider = Array.from(document.querySelectorAll('.widget-slider'))
        .find(s => s.querySelector('.widget-label').textContent.trim().startsWith(label));
    let box = slider;
    while (box && !(box.classList.contains('widget-vbox') && box.querySelector('img.widget-image')))
        box = box.parentElement;
    return box;
}"""


def _figure_state(page: Page, label: str) -> dict:
    """The explorer's figure (src and size), printed text and readout, read in one go."""
    return page.evaluate(
        f"""label => {{
        const box = ({EXPLORER_JS})([label]);
        const image = box.querySelector('img.widget-image');
        const slider = Array.from(box.querySelectorAll('.widget-slider'))
            .find(s => s.querySelector('.widget-label').textContent.trim().startsWith(label));
        const rect = image.getBoundingClientRect();
        return {{src: image.src, width: rect.width, height: rect.height,
                 text: box.innerText, readout: slider.querySelector('.widget-readout').innerText,
                 track: slider.querySelector('.noUi-target').getBoundingClientRect().width}};
    }}""",
        label,
    )


def _wait_for(page: Page, label: str, changed, timeout_s: float, what: str) -> dict:
    """Poll the explorer until `changed(state)`; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = _figure_state(page, label)
        if changed(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s; the explorer shows:\n{state}")
        time.sleep(0.05)


def test_dragging_a_slider_redraws_the_momentum_trajectory_before_the_release(lab, browser):
    chapter = _chapter("04_*.ipynb")
    assert chapter, f"no chapters/04_*.ipynb (the momentum chapter) in {CHAPTERS}"
    with open_notebook(browser, lab, chapter.name) as nb:
        run_all(lab, nb)
        problems = errors_in_outputs(nb)
        assert not problems, f"{chapter.name} in JupyterLab:\n" + "\n".join(problems)
        page, label = nb.page, "learning rate"
        assert page.evaluate(EXPLORER_JS, [label]), (
            f"{chapter.name}: no explorer with a slider whose description starts {label!r}"
        )
        start = _figure_state(page, label)
        assert start["src"].startswith("blob:"), f"the figure is not the image widget's: {start}"
        assert start["track"] >= 250, f"{chapter.name}: the slider's track is {start['track']} px"
        assert FINAL_POINT.search(start["text"]), f"no final point printed: {start['text']!r}"
        handle = page.locator(".widget-slider", has_text=label).locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        nb.screenshot("slider-before")

        # Drag: press, move a little at a time, and see the figure change while still pressed.
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        seen = {start["src"]}
        for step in range(1, 13):
            page.mouse.move(x - 8 * step, y, steps=2)
            time.sleep(0.15)
            seen.add(_figure_state(page, label)["src"])
        mid = _wait_for(
            page,
            label,
            lambda s: s["src"] != start["src"] and s["readout"] != start["readout"],
            REDRAW_TIMEOUT_S,
            f"{chapter.name}: dragging the learning rate did not redraw the figure before release",
        )
        nb.screenshot("slider-mid-drag")
        page.mouse.up()
        print(
            f"{chapter.name}: dragged {start['readout']} -> {mid['readout']}; "
            f"{len(seen) - 1} figures seen while the mouse was down"
        )
        assert (mid["width"], mid["height"]) == (start["width"], start["height"]), (
            f"{chapter.name}: the figure changed size while dragging: {start} -> {mid}"
        )

        # The keyboard: arrow keys step the slider, and the figure follows.
        wait_kernel_idle(lab, nb, REDRAW_TIMEOUT_S, "after the drag")
        before = _figure_state(page, label)
        handle.focus()
        for _ in range(2):
            handle.press("ArrowRight")
        after = _wait_for(
            page,
            label,
            lambda s: s["src"] != before["src"] and s["readout"] != before["readout"],
            REDRAW_TIMEOUT_S,
            f"{chapter.name}: ArrowRight x2 did not move the slider and redraw",
        )
        wait_kernel_idle(lab, nb, REDRAW_TIMEOUT_S, "after the keys")
        after = _figure_state(page, label)
        nb.screenshot("slider-after")
        problems = errors_in_outputs(nb)
        assert not problems, f"{chapter.name} after the slider moved:\n" + "\n".join(problems)
        points = [FINAL_POINT.findall(s["text"])[-1] for s in (before, after)]
        assert points[0] != points[1], (
            f"{chapter.name}: the printed final point stayed {points[0]!r} when the learning "
            f"rate moved from {before['readout']} to {after['readout']}"
        )
