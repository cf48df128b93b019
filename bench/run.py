"""Side-by-side benchmark: d2lhelpers against PyPI's d2l 1.0.3 (`make bench`).

Usage: python bench/run.py [--reps 5] [--only fashion_epoch,train_ch11,animator,course]

Prints one line per workload:

    BENCH <name> ours=<median s> ref=<median s> speedup=<ref/ours> [extra fields]

Ours and the reference run alternately in one process (ours first on even
repetitions, the reference first on odd ones, so drifting load hits both), with the
same inputs and seeds; the medians are reported. Workloads:

- `fashion_epoch`: one epoch of the scheduler chapter's LeNet (batch 256, SGD lr 0.3)
  plus the test-set evaluation, with data loading (building the loaders, reading the
  IDX files, every batch) and the Animator included. Ref: `d2l.load_data_fashion_mnist`
  and the book's training loop; ours: `d2l.load_data_fashion_mnist` and `d2l.train`.
  Also timed: the compute floor, the same forward and backward passes over tensors
  preloaded and pre-batched on the device, with no data pipeline and no plotting, in
  the layout `d2l.train` uses (channels-last on the CPU). On a CPU it is timed on
  torch's thread count and on one core fewer (the two `d2l.train` chooses between
  each epoch); the faster is the floor, and both are printed.
- `train_ch11`: the chapter's `train_sgd(0.05, 10)`: `get_data_ch11(10)` plus
  `train_ch11` for 2 epochs with the from-scratch `sgd`. Before timing, both packages
  train from the same seed over the same unshuffled airfoil tensors and their loss
  curves must agree to 1e-6 (d2l's `evaluate_loss` draws from the random number
  generator when it iterates a shuffled loader, so shuffled runs diverge by design).
- `animator`: 1,000 `add()` calls on a fresh Animator, then (ours) `show()`, which is
  what the notebook's post-execute hook does, so both end with the last point drawn.
- `course`: wall time and peak memory of `python -m pytest chapters` (the README's
  nbval run) with the environment it is given; no reference.

Headless, as under nbval: before either package is imported, an in-process IPython
kernel (`ipykernel.inprocess`) is started, so `get_ipython()` is a kernel shell, both
packages see a notebook, and `display()` renders figures (SVG, as both packages'
`use_svg_display` ask) and sends them through the kernel's IOPub machinery, with no
frontend attached. Matplotlib uses the Agg backend. Nothing is patched on either side.

The reference reads its data where d2l looks: `../data` relative to the working
directory. The harness builds a temporary folder `<tmp>/data` holding the airfoil file
and Fashion-MNIST's four IDX files (uncompressed, torchvision's `raw/` layout), copied
from the files our loaders read (the real ones when the data root has them, else the
synthetic stand-in), and runs from `<tmp>/work`.

On a CUDA machine `fashion_epoch` runs on the GPU (both sides and the floor use
`try_gpu()`); the other workloads are CPU-bound by nature and run on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import io
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
WORKLOADS = ("fashion_epoch", "train_ch11", "animator", "course")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def log(msg: str) -> None:
    print(msg, file=sys.__stdout__, flush=True)


# ---------------------------------------------------------------- environment


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
    from d2lhelpers import fashion_mnist

    root = Path(tempfile.mkdtemp(prefix="d2l-bench-"))
    data = root / "data"
    raw = data / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (root / "work").mkdir()
    shutil.copy(d2l.download("airfoil"), data / "airfoil_self_noise.dat")
    ours_root = d2l.data_root() / "FashionMNIST"
    if d2l.fashion_mnist_status() == "real":
        source = ours_root / "raw"
    else:
        d2l.read_fashion_mnist()  # writes the synthetic stand-in if it is missing
        source = ours_root / fashion_mnist._SYNTHETIC_DIR
    for name in IDX_FILES:
        with gzip.open(source / f"{name}.gz", "rb") as f, open(raw / name, "wb") as out:
            shutil.copyfileobj(f, out)
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


def sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` takes, with its printed output swallowed (the same for both sides).

    The garbage of the previous run (d2l's figures, loader workers) is collected first
    and exiting worker processes get half a second, so no side pays for another's.
    """
    gc.collect()
    time.sleep(0.5)
    with contextlib.redirect_stdout(io.StringIO()):
        sync()
        begin = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - begin


def alternate(reps: int, sides: dict[str, Callable[[], float]], name: str) -> dict:
    """Run each side `reps` times, rotating which goes first; return their medians."""
    times: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for rep in range(reps):
        for side in order if rep % 2 == 0 else order[::-1]:
            times[side].append(sides[side]())
        done = ", ".join(f"{s}={times[s][-1]:.3f}" for s in order)
        log(f"  {name} rep {rep + 1}/{reps}: {done}")
    return {side: statistics.median(ts) for side, ts in times.items()}


def bench_line(name: str, ours: float, ref: float, extra: str = "") -> str:
    line = f"BENCH {name} ours={ours:.3f} ref={ref:.3f} speedup={ref / ours:.2f}"
    return f"{line} {extra}".rstrip()


# ---------------------------------------------------------------- fashion_epoch


def lenet():
    """The LeNet of the book's learning-rate scheduling section."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )  # fmt: skip


def book_train(ref, net, train_iter, test_iter, num_epochs, loss, trainer, device):
    """The training loop of the book's learning-rate scheduling section, as learners run it.

    Written here against the reference package's helpers (`Animator`, `Accumulator`,
    `accuracy`, `evaluate_accuracy_gpu`); it is the book's notebook code, not part of
    the d2l package. Scheduler handling is left out (the workload has none).
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
            train_loss = metric[0] / metric[2]
            train_acc = metric[1] / metric[2]
            if (i + 1) % 50 == 0:
                animator.add(epoch + i / len(train_iter), (train_loss, train_acc, None))
        test_acc = ref.evaluate_accuracy_gpu(net, test_iter)
        animator.add(epoch + 1, (None, None, test_acc))
    print(f"train loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")


def fashion_epoch(ref, d2l, reps: int, ref_threads: int | None = None) -> str:
    import matplotlib.pyplot as plt
    import torch
    from torch import nn

    from d2lhelpers import fashion_mnist, training

    device = d2l.try_gpu()
    batch_size, lr = 256, 0.3

    # Same inputs: the reference's torchvision data set holds the images ours reads.
    import torchvision

    ours_data = d2l.read_fashion_mnist()
    ref_set = torchvision.datasets.FashionMNIST(root="../data", train=True, download=True)
    ref_test = torchvision.datasets.FashionMNIST(root="../data", train=False, download=True)
    theirs = (ref_set.data, ref_set.targets, ref_test.data, ref_test.targets)
    for a, b in zip(theirs, ours_data):
        assert torch.equal(a, b), "the two packages read different Fashion-MNIST data"
    log(
        f"  fashion_epoch: device {device}; both sides read the same {len(ref_set)} + "
        f"{len(ref_test)} images ({d2l.fashion_mnist_status()} data)"
    )

    # The floor: the same passes over batches preloaded on the device, no pipeline.
    def to_float(x):
        return (x.unsqueeze(1).float() / 255).to(device)

    gen = torch.Generator().manual_seed(SEED)
    order = torch.randperm(len(ours_data[0]), generator=gen)
    train_x, train_y = to_float(ours_data[0][order]), ours_data[1][order].to(device)
    test_x = to_float(ours_data[2])
    train_batches = [
        (train_x[i : i + batch_size], train_y[i : i + batch_size])
        for i in range(0, len(train_x), batch_size)
    ]
    test_batches = [test_x[i : i + batch_size] for i in range(0, len(test_x), batch_size)]

    def setup():
        torch.manual_seed(SEED)
        net = lenet()
        return net, torch.optim.SGD(net.parameters(), lr=lr), nn.CrossEntropyLoss()

    def ours():
        net, trainer, loss = setup()
        fashion_mnist._read_idx_cached.cache_clear()  # read the files afresh every time

        def work():
            train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
            d2l.train(net, train_iter, test_iter, 1, loss, trainer, device)

        return timed(work)

    def reference():
        net, trainer, loss = setup()

        def work():
            train_iter, test_iter = ref.load_data_fashion_mnist(batch_size)
            book_train(ref, net, train_iter, test_iter, 1, loss, trainer, device)

        threads = torch.get_num_threads()
        torch.set_num_threads(ref_threads or threads)  # --ref-threads, a diagnostic
        try:
            seconds = timed(work)
        finally:
            torch.set_num_threads(threads)
        plt.close("all")  # d2l's Animator leaves its figures open
        return seconds

    def floor(threads: int):
        def side():
            net, trainer, loss = setup()
            net.to(device)

            def work():
                net.train()
                for X, y in train_batches:
                    trainer.zero_grad()
                    loss(net(X), y).backward()
                    trainer.step()
                net.eval()
                with torch.no_grad():
                    for X in test_batches:
                        net(X)

            # On the CPU: channels-last as `d2l.train` uses it, on a fixed thread count.
            with training._cpu_training_settings(net, device):
                torch.set_num_threads(threads)
                return timed(work)

        return side

    sides = {"ours": ours, "ref": reference}
    counts = [torch.get_num_threads()]
    if device.type == "cpu" and training._cpu_threads() < counts[0]:
        counts.append(training._cpu_threads())  # d2l.train picks the faster each epoch
    sides.update({f"floor@{n}": floor(n) for n in counts})

    # Warm up both packages (lazy imports, oneDNN kernels, fonts), untimed.
    with contextlib.redirect_stdout(io.StringIO()):
        for lib in (ref, d2l):
            lib.Animator(legend=["a"]).add(0, 1.0)
        net, trainer, loss = setup()
        for threads in counts:
            for settings in (
                contextlib.nullcontext(),
                training._cpu_training_settings(net, device),
            ):
                with settings:
                    torch.set_num_threads(threads)
                    for X, y in train_batches[:3]:
                        trainer.zero_grad()
                        loss(net(X.to(device)), y).backward()
                        trainer.step()
        torch.set_num_threads(counts[0])
        plt.close("all")

    m = alternate(reps, sides, "fashion_epoch")
    best = min(counts, key=lambda n: m[f"floor@{n}"])
    floor_s = m[f"floor@{best}"]
    extra = f"floor={floor_s:.3f} ours/floor={m['ours'] / floor_s:.2f} device={device.type}"
    if device.type == "cpu":
        floors = ",".join(f"{n}:{m[f'floor@{n}']:.3f}" for n in counts)
        extra += f" floor_by_threads={floors} ref_threads={ref_threads or counts[0]}"
    return bench_line("fashion_epoch", m["ours"], m["ref"], extra)


# ---------------------------------------------------------------- train_ch11


def sgd(params, states, hyperparams):
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
    features, labels = ours_iter.tensors
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
    ours_l, ref_l = curves["ours"], curves["ref"]
    assert len(ours_l) == len(ref_l) == 15, (len(ours_l), len(ref_l))
    diff = max(abs(a - b) for a, b in zip(ours_l, ref_l))
    assert diff <= 1e-6 and all(math.isfinite(v) for v in ours_l), (diff, ours_l, ref_l)
    log(
        f"  train_ch11 losses match: {len(ours_l)} points, final {ours_l[-1]:.6f}, "
        f"max |ours - ref| = {diff:.1e} (same seed, same unshuffled data)"
    )

    def run(lib):
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

    def run(lib):
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


def course(_ref, _d2l, _reps: int, env: dict[str, str]) -> str:
    """Run the README's nbval command once; report wall time and peak memory."""
    import psutil

    chapters = sorted((REPO / "chapters").glob("*.ipynb"))
    cmd = [sys.executable, "-m", "pytest", "chapters", "-q", "-p", "no:cacheprovider"]
    cmd += ["--durations=3", "--durations-min=10"]
    log(
        f"  course: {' '.join(cmd[1:])} over {len(chapters)} notebooks, "
        f"D2L_EPOCH_FRACTION={env.get('D2L_EPOCH_FRACTION', '(unset)')}"
    )
    peak_tree = peak_single = 0
    done = threading.Event()

    def poll(pid: int) -> None:
        nonlocal peak_tree, peak_single
        try:
            parent = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            sizes = [0]
            with contextlib.suppress(psutil.Error):
                for p in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        sizes.append(p.memory_info().rss)
            peak_tree, peak_single = max(peak_tree, sum(sizes)), max(peak_single, max(sizes))
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
    if proc.returncode != 0:
        log(out[-4000:])
    status = "passed" if proc.returncode == 0 else f"failed(rc={proc.returncode})"
    return (
        f"BENCH course ours={seconds:.1f} ref=n/a speedup=n/a notebooks={len(chapters)} "
        f"peak_rss_tree={peak_tree / 2**30:.2f}GiB peak_rss_max_process="
        f"{peak_single / 2**30:.2f}GiB {status}"
    )


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per side (>= 5)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument(
        "--ref-threads",
        type=int,
        help="diagnostic: run the reference's fashion_epoch on this many threads "
        "(default: torch's, as learners get)",
    )
    args = parser.parse_args()
    selected = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(selected) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {WORKLOADS}")

    if os.environ.get("D2L_DATA_DIR"):
        os.environ["D2L_DATA_DIR"] = str(Path(os.environ["D2L_DATA_DIR"]).resolve())
    # The course run gets the environment as given, with `make test`'s epoch fraction
    # unless one is set; the timed epochs are full epochs.
    course_env = dict(os.environ)
    course_env.setdefault("D2L_EPOCH_FRACTION", "0.05")
    os.environ.pop("D2L_EPOCH_FRACTION", None)

    kernel = start_headless_kernel()
    try:
        import d2l.torch as ref

        import d2lhelpers as d2l

        root = prepare_reference_root(d2l)
        log(f"bench: {machine_summary()}")
        log(
            f"bench: reference d2l {getattr(sys.modules['d2l'], '__version__', '?')} "
            f"reads {root / 'data'}; ours reads {d2l.data_root()}; {args.reps} reps each"
        )
        lines = []
        for name in selected:
            if name == "course":
                lines.append(course(ref, d2l, args.reps, course_env))
            elif name == "fashion_epoch":
                lines.append(fashion_epoch(ref, d2l, args.reps, args.ref_threads))
            else:
                lines.append(globals()[name](ref, d2l, args.reps))
            log(lines[-1])
        log("")
        for line in lines:
            log(line)
    finally:
        os.chdir(REPO)
        with contextlib.suppress(Exception):
            kernel.shutdown_kernel()
        if "root" in locals():
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
