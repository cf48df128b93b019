"""Side-by-side benchmark: d2lhelpers against PyPI's d2l 1.0.3 (`make bench`).

Usage: python bench/run.py [--reps 5] [--only fashion_epoch,train_ch11,animator,course,slider_frame]

Prints one line per workload:

    BENCH <name> ours=<median s> ref=<median s> speedup=<ref/ours> [extra fields]

The harness is three functions: `timed` (one call, output swallowed, garbage of the
previous call collected first), `alternate` (each side `reps` times, the order
reversed every repetition so drifting load hits both) and the medians it returns.
Each workload is one function, written against the two packages' public APIs:

- `fashion_epoch`: one epoch of the scheduler chapter's LeNet (batch 256, SGD lr 0.3)
  plus the test-set evaluation, with the loaders and the Animator included. Ref:
  `d2l.load_data_fashion_mnist` and the book's training loop; ours:
  `d2l.load_data_fashion_mnist` and `d2l.train`, on torch's default thread count (what
  a learner gets). Also timed: the compute floor, the same passes over tensors
  preloaded in memory, with no data pipeline and no plotting, on the default thread
  count and on one thread. Ours reads the data set once per process and keeps it in
  memory (as in a notebook session); the cost of that first read is timed separately,
  in fresh processes (`cold_read`).
- `train_ch11`: the chapter's `train_sgd(0.05, 10)`: `get_data_ch11(10)` plus
  `train_ch11` for 2 epochs with the from-scratch `sgd`. Before timing, both packages
  train from the same seed over the same unshuffled airfoil tensors, and their loss
  curves must agree to 1e-6.
- `animator`: 1,000 `add()` calls on a fresh Animator, then (ours) `show()`, which is
  what the notebook's post-execute hook does, so both end with the last point drawn.
- `course`: wall time and peak memory of `python -m pytest chapters` (the README's
  nbval run) with the environment it is given; no reference.
- `slider_frame`: one redraw of every explorer (`d2l.explore`) for a new slider value,
  in a notebook kernel, as `BENCH slider_frame <chapter>:<draw> median_ms=... p95_ms=...`
  lines (no reference: d2l has no sliders).

Headless, as under nbval: an in-process IPython kernel is started before either
package is imported, so both see a notebook and `display()` renders their figures.
The reference reads its data from `../data` relative to the working directory: the
harness copies the files our loaders read (the real ones) into `<tmp>/data` and runs
from `<tmp>/work`. On a CUDA machine `fashion_epoch` runs on the GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED = 0
# The course workload runs the notebooks as `make test` does; the timed epochs are full.
COURSE_FRACTION = os.environ.get("D2L_EPOCH_FRACTION", "0.05")


def log(msg: str) -> None:
    print(msg, file=sys.__stdout__, flush=True)


# ---------------------------------------------------------------- the harness


def sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` takes, with its printed output swallowed (the same for every side).

    The garbage of the previous call (figures, loader workers) is collected first and
    exiting worker processes get half a second, so no side pays for another's.
    """
    gc.collect()
    time.sleep(0.5)
    with contextlib.redirect_stdout(io.StringIO()):
        sync()
        begin = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - begin


def alternate(reps: int, sides: dict[str, Callable[[], float]], name: str) -> dict[str, float]:
    """Run each side `reps` times, reversing the order every repetition; return medians."""
    times: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for rep in range(reps):
        for side in order if rep % 2 == 0 else order[::-1]:
            times[side].append(sides[side]())
        log(
            f"  {name} rep {rep + 1}/{reps}: " + ", ".join(f"{s}={times[s][-1]:.3f}" for s in order)
        )
    return {side: statistics.median(ts) for side, ts in times.items()}


def bench_line(name: str, ours: float, ref: float, extra: str = "") -> str:
    line = f"BENCH {name} ours={ours:.3f} ref={ref:.3f} speedup={ref / ours:.2f}"
    return f"{line} {extra}".rstrip()


# ---------------------------------------------------------------- the setting


def start_headless_kernel():
    """Start an in-process IPython kernel, so both packages run as in a notebook."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    os.environ["MPLBACKEND"] = "Agg"
    from ipykernel.inprocess.manager import InProcessKernelManager

    manager = InProcessKernelManager()
    manager.start_kernel()
    return manager


def prepare_reference_root(d2l) -> Path:
    """Lay out `<tmp>/data` the way d2l 1.0.3 expects it and chdir into `<tmp>/work`."""
    root = Path(tempfile.mkdtemp(prefix="d2l-bench-"))
    raw = root / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (root / "work").mkdir()
    shutil.copy(d2l.download("airfoil"), root / "data" / "airfoil_self_noise.dat")
    for key, path in d2l.locate_fashion_mnist().items():
        if path is None:
            raise SystemExit(d2l.fashion_mnist.how_to_get_fashion_mnist([key]))
        with gzip.open(path, "rb") as f, open(raw / path.name[:-3], "wb") as out:
            shutil.copyfileobj(f, out)  # torchvision reads the uncompressed files
    os.chdir(root / "work")
    return root


def machine_summary() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), GPU: {gpu}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), python {platform.python_version()}, "
        f"load average {load}"
    )


# ---------------------------------------------------------------- fashion_epoch


def book_train(ref, net, train_iter, test_iter, num_epochs, loss, trainer, device) -> None:
    """The training loop of the book's learning-rate scheduling section, as learners run it.

    Written against the reference package's helpers; it is the book's notebook code,
    not part of the d2l package. Scheduler handling is left out (the workload has none).
    """
    import torch

    net.to(device)
    animator = ref.Animator(
        xlabel="epoch", xlim=[0, num_epochs], legend=["train loss", "train acc", "test acc"]
    )
    for epoch in range(num_epochs):
        metric = ref.Accumulator(3)  # train_loss, train_acc, num_examples
        for i, (X, y) in enumerate(train_iter):
            net.train()
            trainer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            lo = loss(y_hat, y)
            lo.backward()
            trainer.step()
            with torch.no_grad():
                metric.add(lo * X.shape[0], ref.accuracy(y_hat, y), X.shape[0])
            train_loss, train_acc = metric[0] / metric[2], metric[1] / metric[2]
            if (i + 1) % 50 == 0:
                animator.add(epoch + i / len(train_iter), (train_loss, train_acc, None))
        test_acc = ref.evaluate_accuracy_gpu(net, test_iter)
        animator.add(epoch + 1, (None, None, test_acc))


def cold_read_seconds(reps: int) -> float:
    """Median seconds of `d2l.read_fashion_mnist()` in a fresh process (import excluded)."""
    code = (
        "import time, d2lhelpers as d2l; t = time.perf_counter(); d2l.read_fashion_mnist(); "
        "print(time.perf_counter() - t)"
    )
    command = [sys.executable, "-c", code]
    runs = [
        subprocess.run(command, capture_output=True, text=True, check=True) for _ in range(reps)
    ]
    return statistics.median(float(r.stdout) for r in runs)


def fashion_epoch(ref, d2l, reps: int) -> str:
    import matplotlib.pyplot as plt
    import torch
    from torch import nn

    device = d2l.try_gpu()
    batch_size, lr = 256, 0.3
    threads = torch.get_num_threads()

    # Same inputs: the reference's torchvision data set holds the images ours reads.
    import torchvision

    ours_data = d2l.read_fashion_mnist()
    ref_train = torchvision.datasets.FashionMNIST(root="../data", train=True, download=False)
    ref_test = torchvision.datasets.FashionMNIST(root="../data", train=False, download=False)
    theirs = (ref_train.data, ref_train.targets, ref_test.data, ref_test.targets)
    assert all(torch.equal(a, b) for a, b in zip(theirs, ours_data)), "different data"
    log(f"  fashion_epoch: device {device}; both sides read the same real Fashion-MNIST")

    def setup():
        torch.manual_seed(SEED)
        net = d2l.lenet()
        return net, torch.optim.SGD(net.parameters(), lr=lr), nn.CrossEntropyLoss()

    def ours():
        net, trainer, loss = setup()

        def work():
            train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
            d2l.train(net, train_iter, test_iter, 1, loss, trainer, device)

        seconds = timed(work)
        plt.close("all")
        return seconds

    def reference():
        net, trainer, loss = setup()

        def work():
            train_iter, test_iter = ref.load_data_fashion_mnist(batch_size)
            book_train(ref, net, train_iter, test_iter, 1, loss, trainer, device)

        seconds = timed(work)
        plt.close("all")  # d2l's Animator leaves its figures open
        return seconds

    # The floor: the same passes over batches preloaded on the device, no pipeline.
    def to_float(x):
        return (x.unsqueeze(1).float() / 255).to(device)

    order = torch.randperm(len(ours_data[0]), generator=torch.Generator().manual_seed(SEED))
    train_x, train_y = to_float(ours_data[0][order]), ours_data[1][order].to(device)
    test_x = to_float(ours_data[2])
    train_batches = [
        (train_x[i : i + batch_size], train_y[i : i + batch_size])
        for i in range(0, len(train_x), batch_size)
    ]
    test_batches = [test_x[i : i + batch_size] for i in range(0, len(test_x), batch_size)]

    def floor(num_threads: int) -> Callable[[], float]:
        def work(net, trainer, loss):
            net.train()
            for X, y in train_batches:
                trainer.zero_grad()
                loss(net(X), y).backward()
                trainer.step()
            net.eval()
            with torch.no_grad():
                for X in test_batches:
                    net(X)

        def side():
            net, trainer, loss = setup()
            net.to(device)
            if device.type == "cpu":  # the layout d2l.train uses on the CPU
                net.to(memory_format=torch.channels_last)
            torch.set_num_threads(num_threads)
            try:
                return timed(lambda: work(net, trainer, loss))
            finally:
                torch.set_num_threads(threads)

        return side

    counts = [threads, 1] if device.type == "cpu" and threads > 1 else [threads]
    sides = {"ours": ours, "ref": reference, **{f"floor@{n}": floor(n) for n in counts}}
    with contextlib.redirect_stdout(io.StringIO()):  # warm up both packages, untimed
        for lib in (ref, d2l):
            lib.Animator(legend=["a"]).add(0, 1.0)
        floor(threads)()
    plt.close("all")

    m = alternate(reps, sides, "fashion_epoch")
    read = cold_read_seconds(reps)
    floor_s = m[f"floor@{threads}"]
    extra = (
        f"floor={floor_s:.3f} ours/floor={m['ours'] / floor_s:.2f} device={device.type} "
        f"threads={threads} cold_read={read:.3f}"
    )
    if len(counts) > 1:
        floors = ",".join(f"{n}:{m[f'floor@{n}']:.3f}" for n in counts)
        extra += f" floor_by_threads={floors}"
    return bench_line("fashion_epoch", m["ours"], m["ref"], extra)


# ---------------------------------------------------------------- train_ch11


def sgd(params, states, hyperparams) -> None:
    """The from-scratch minibatch SGD of the book's chapter (`train_ch11`'s trainer)."""
    for p in params:
        p.data.sub_(hyperparams["lr"] * p.grad)
        p.grad.data.zero_()


def train_ch11(ref, d2l, reps: int) -> str:
    import matplotlib.pyplot as plt
    import torch

    lr, batch_size, num_epochs = 0.05, 10, 2

    # Correctness first: same seed, same data, same (unshuffled) order on both sides.
    ours_iter, dim = d2l.get_data_ch11(batch_size)
    ref_iter, ref_dim = ref.get_data_ch11(batch_size)
    features, labels = ours_iter.dataset.tensors
    assert dim == ref_dim and all(
        torch.equal(a, b) for a, b in zip(ref_iter.dataset.tensors, (features, labels))
    ), "the two packages read different airfoil data"
    curves = {}
    for name, lib in (("ours", d2l), ("ref", ref)):
        loader = lib.load_array((features, labels), batch_size, is_train=False)
        torch.manual_seed(SEED)
        with contextlib.redirect_stdout(io.StringIO()):
            curves[name] = lib.train_ch11(sgd, None, {"lr": lr}, loader, dim, num_epochs)[1]
    plt.close("all")
    diff = max(abs(a - b) for a, b in zip(curves["ours"], curves["ref"], strict=True))
    assert diff <= 1e-6 and all(math.isfinite(v) for v in curves["ours"]), diff
    log(f"  train_ch11 losses match: final {curves['ours'][-1]:.6f}, max |ours - ref| = {diff:.1e}")

    def run(lib) -> Callable[[], float]:
        def work():
            data_iter, feature_dim = lib.get_data_ch11(batch_size)
            lib.train_ch11(sgd, None, {"lr": lr}, data_iter, feature_dim, num_epochs)

        def side():
            torch.manual_seed(SEED)
            seconds = timed(work)
            plt.close("all")
            return seconds

        return side

    m = alternate(reps, {"ours": run(d2l), "ref": run(ref)}, "train_ch11")
    return bench_line("train_ch11", m["ours"], m["ref"], f"max_loss_diff={diff:.1e}")


# ---------------------------------------------------------------- animator


def animator(ref, d2l, reps: int, adds: int = 1000) -> str:
    import matplotlib.pyplot as plt

    def run(lib) -> Callable[[], float]:
        def work():
            a = lib.Animator(xlabel="step", ylabel="value", xlim=[0, adds], ylim=[-1.1, 1.1])
            for i in range(adds):
                a.add(i, math.sin(i / 50))
            if hasattr(a, "show"):  # ours: draw what is pending, as the cell-end hook does
                a.show()

        def side():
            seconds = timed(work)
            plt.close("all")
            return seconds

        return side

    m = alternate(reps, {"ours": run(d2l), "ref": run(ref)}, "animator")
    return bench_line("animator", m["ours"], m["ref"], f"adds={adds}")


# ---------------------------------------------------------------- course


def course(ref, d2l, reps: int) -> str:
    """Run the README's nbval command once; report wall time and peak memory."""
    import psutil

    env = dict(os.environ, D2L_EPOCH_FRACTION=COURSE_FRACTION)
    chapters = sorted((REPO / "chapters").glob("*.ipynb"))
    cmd = [sys.executable, "-m", "pytest", "chapters", "-q", "-p", "no:cacheprovider"]
    cmd += ["--durations=3", "--durations-min=10"]
    log(f"  course: {' '.join(cmd[1:])}, D2L_EPOCH_FRACTION={env['D2L_EPOCH_FRACTION']}")
    peaks = [0, 0]  # summed over the process tree, largest single process
    done = threading.Event()

    def poll(pid: int) -> None:
        parent = psutil.Process(pid)
        while not done.is_set():
            sizes = [0]
            with contextlib.suppress(psutil.Error):
                for p in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        sizes.append(p.memory_info().rss)
            peaks[:] = max(peaks[0], sum(sizes)), max(peaks[1], max(sizes))
            done.wait(0.2)

    begin = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    poller = threading.Thread(target=poll, args=(proc.pid,), daemon=True)
    poller.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - begin
    done.set()
    poller.join()
    lines = out.strip().splitlines() or ["(no output)"]
    for line in [x for x in lines if " call " in x] + lines[-1:]:
        log(f"  course: {line.strip()}")
    status = "passed" if proc.returncode == 0 else f"failed(rc={proc.returncode})"
    if proc.returncode != 0:
        log(out[-4000:])
    return (
        f"BENCH course ours={seconds:.1f} ref=n/a speedup=n/a notebooks={len(chapters)} "
        f"peak_rss_tree={peaks[0] / 2**30:.2f}GiB peak_rss_max_process={peaks[1] / 2**30:.2f}GiB "
        f"{status}"
    )


# ---------------------------------------------------------------- slider_frame

# Run in each chapter's kernel before its cells: keep every explorer d2l.explore shows,
# with the seconds its cell spent in it (the first frame and any frames drawn ahead).
RECORD_EXPLORERS = """\
import time as _time

import d2lhelpers as _d2l
import d2lhelpers.widgets as _widgets

_bench_explorers = []


def _bench_explore(draw, precompute=False, **controls):
    begin = _time.perf_counter()
    _widgets.explore(draw, precompute, **controls)
    _bench_explorers.append((draw, controls, _time.perf_counter() - begin))


_d2l.explore = _bench_explore
"""

# Run after them: move the sliders of each explorer through their range (an explorer
# without one: its dropdowns through their options), timing every assignment, which runs
# what a moved control runs in JupyterLab and Colab: the frame drawn (or the one drawn
# ahead looked up), its SVG cropped and handed to the image widget.
TIME_CONTROLS = """\
import json as _json
import time as _time

import ipywidgets as _w


def _bench_moves(control):
    if isinstance(control, _w.FloatSlider):
        n = round((control.max - control.min) / control.step)
        return [round(control.min + round(k * n / ({moves} - 1)) * control.step, 12)
                for k in range({moves})]
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


_bench_times = []
for _draw, _controls, _cell in _bench_explorers:
    _moved = [c for c in _controls.values() if isinstance(c, _w.FloatSlider)] or [
        c for c in _controls.values() if isinstance(c, _w.Dropdown)]
    _seconds = []
    for _c in _moved:
        _default = _c.value
        for _value in _bench_moves(_c):
            if _value != _c.value:
                _begin, _cpu = _time.perf_counter(), _time.process_time()
                _c.value = _value
                _seconds.append((_time.perf_counter() - _begin, _time.process_time() - _cpu))
        _c.value = _default
    _bench_times.append({{"draw": _draw.__name__, "seconds": _seconds, "cell": _cell,
                          "moved": [c.description for c in _moved]}})
print(_json.dumps(_bench_times))
"""


def slider_frame(ref, d2l, reps: int, moves: int = 16) -> str:
    """One redraw of each explorer for a new slider value, timed in a notebook kernel.

    Each chapter with an explorer runs in a fresh kernel (nbclient, as the Colab widget
    test runs it): the cells its explorers need (tools/explorers.py), then every slider
    moves to `moves` values across its range, the other controls at their defaults (an
    explorer without a slider moves its dropdowns through their options). A redraw is
    timed from the assignment of the new value to the figure handed to the widget, the
    code path a dragged slider takes in JupyterLab and Colab; `cell_s` is the time the
    explorer's cell spent drawing its first frame and, with `precompute`, the frames it
    draws ahead. Full-length epochs; `reps` is unused (the moves are the repetitions).
    """
    import nbformat
    from nbclient import NotebookClient

    sys.path.insert(0, str(REPO / "tools"))
    try:
        from explorers import cells_to_run, slider_cells
    finally:
        sys.path.remove(str(REPO / "tools"))
    lines = []
    for path in sorted((REPO / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if not any("explore(" in nb.cells[i].source for i in slider_cells(nb)):
            continue
        kept = cells_to_run(nb)
        sources = [RECORD_EXPLORERS, *(nb.cells[i].source for i in kept)]
        sources.append(TIME_CONTROLS.format(moves=moves))
        nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=1800,
            resources={"metadata": {"path": str(path.parent)}},
        )
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the inline backend
        begin = time.perf_counter()
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if "text" in o)
        log(
            f"  slider_frame {path.stem}: {len(kept)} cells and the moves in "
            f"{time.perf_counter() - begin:.0f} s"
        )
        for explorer in json.loads(printed):
            ms = sorted(1000 * wall for wall, _ in explorer["seconds"])
            cpu = statistics.median(1000 * cpu for _, cpu in explorer["seconds"])
            p95 = ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)]
            median = statistics.median(ms)
            lines.append(
                f"BENCH slider_frame {path.stem}:{explorer['draw']} median_ms={median:.0f} "
                f"p95_ms={p95:.0f} cpu_median_ms={cpu:.0f} redraws={len(ms)} "
                f"cell_s={explorer['cell']:.1f} load={os.getloadavg()[0]:.1f}"
            )
            log(f"  slider_frame {path.stem}:{explorer['draw']} moved {explorer['moved']}")
            log(lines[-1])
    return "\n".join(lines)


# ---------------------------------------------------------------- main

WORKLOADS = {
    "fashion_epoch": fashion_epoch,
    "train_ch11": train_ch11,
    "animator": animator,
    "course": course,
    "slider_frame": slider_frame,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per side")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    args = parser.parse_args()
    selected = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(selected) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {list(WORKLOADS)}")
    if os.environ.get("D2L_DATA_DIR"):
        os.environ["D2L_DATA_DIR"] = str(Path(os.environ["D2L_DATA_DIR"]).resolve())
    os.environ.pop("D2L_EPOCH_FRACTION", None)

    kernel = start_headless_kernel()
    root = None
    try:
        import d2l.torch as ref

        import d2lhelpers as d2l

        root = prepare_reference_root(d2l)
        log(f"bench: {machine_summary()}")
        log(f"bench: reference d2l reads {root / 'data'}; {args.reps} reps each")
        lines = []
        for name in selected:
            lines.append(WORKLOADS[name](ref, d2l, args.reps))
            log(lines[-1])
        log("")
        for line in lines:
            log(line)
    finally:
        os.chdir(REPO)
        with contextlib.suppress(Exception):
            kernel.shutdown_kernel()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
