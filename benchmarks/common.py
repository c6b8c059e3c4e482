"""Shared pieces of the benchmark scripts: data, machine description, timing statistics, tables.

Data: Fashion-MNIST from Debian's package ``dataset-fashion-mnist`` (IDX files under
``/usr/share/datasets/fashion-mnist/``) when it is installed, otherwise synthetic arrays of the same
shapes and dtypes. Either way ``x`` is float (N, 784) in [0, 1] and ``y`` int64 (N,) with labels in
0..9; the training split has 60,000 images and the test split 10,000.
"""

from __future__ import annotations

import gzip
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
N_TRAIN, N_TEST, N_IN, N_OUT = 60_000, 10_000, 784, 10

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or raw, told apart by the gzip magic) into an array of its shape."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4]!r})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: payload is {len(raw) - offset} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


@dataclass
class Data:
    """Training and test arrays: x float (N, 784) in [0, 1], y int64 (N,) labels 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def astype(self, dtype: np.dtype) -> Data:
        """The same data with x in ``dtype`` (labels unchanged)."""
        return Data(self.x_train.astype(dtype), self.y_train, self.x_test.astype(dtype),
                    self.y_test, self.source)


def load_data(synthetic: bool = False, seed: int = 0, limit: int | None = None) -> Data:
    """Fashion-MNIST (float32) when installed and ``synthetic`` is false, else synthetic data.

    The synthetic data is learnable (each class is a fixed random prototype plus noise), so the
    accuracy check still means something without the real files. ``limit`` keeps only the first
    ``limit`` examples of each split (for smoke runs).
    """
    paths = {train: [FASHION_DIR / f for f in _FILES[train]] for train in (True, False)}
    if not synthetic and all(p.exists() for ps in paths.values() for p in ps):
        arrays = []
        for train in (True, False):
            images, labels = (read_idx(p) for p in paths[train])
            images, labels = images[:limit], labels[:limit]
            arrays.append(images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0))
            arrays.append(labels.astype(np.int64))
        return Data(*arrays, source=f"Fashion-MNIST ({FASHION_DIR})")
    rng = np.random.default_rng(seed)
    protos = rng.random((N_OUT, N_IN), dtype=np.float32)
    arrays = []
    for n in (N_TRAIN, N_TEST):
        n = min(n, limit or n)
        y = rng.integers(0, N_OUT, size=n).astype(np.int64)
        x = 0.5 * protos[y] + 0.5 * rng.random((n, N_IN), dtype=np.float32)
        arrays += [x.astype(np.float32), y]
    return Data(*arrays, source="synthetic (Fashion-MNIST not installed)")


def one_hot(y: np.ndarray, dtype: np.dtype, k: int = N_OUT) -> np.ndarray:
    """(N,) int labels -> (N, k) one-hot array of ``dtype``."""
    out = np.zeros((len(y), k), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def shuffled(data: Data, seed: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch's training order: (x, y one-hot, y labels), each a contiguous shuffled copy.

    Every system gets exactly these arrays and slices its mini-batches from them as views, so data
    preparation is identical for all and is not part of the timed epoch.
    """
    perm = np.random.default_rng(seed).permutation(len(data.y_train))
    x = np.ascontiguousarray(data.x_train[perm], dtype=dtype)
    labels = data.y_train[perm]
    return x, one_hot(labels, dtype), labels


# ---------------------------------------------------------------------------------------------
# Machine and thread settings


def thread_info() -> dict[str, str]:
    """What the BLAS / OpenMP thread pools and the OPENBLAS_* / *_NUM_THREADS variables are."""
    info: dict[str, str] = {}
    for k in sorted(os.environ):
        if k.startswith("OPENBLAS") or k.endswith("_NUM_THREADS"):
            info[f"env {k}"] = os.environ[k]
    try:
        import threadpoolctl

        for pool in threadpoolctl.threadpool_info():
            name = f"{pool['internal_api']} {pool.get('version') or ''}".strip()
            extra = pool.get("architecture") or pool.get("threading_layer") or ""
            info[f"pool {name} ({Path(pool['filepath']).name})"] = (
                f"{pool['num_threads']} threads {extra}".strip())
    except ImportError:
        info["threadpoolctl"] = "not installed (pip install threadpoolctl to list BLAS pools)"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch.get_num_threads()"] = str(torch.get_num_threads())
        info["torch.get_num_interop_threads()"] = str(torch.get_num_interop_threads())
    return info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_report() -> list[str]:
    """Lines describing the machine and library versions (printed at the top of each script)."""
    lines = [
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, {cpu_model()}",
        f"numpy {np.__version__}",
    ]
    try:
        import tinygrad_nn

        lines.append(f"tinygrad_nn {getattr(tinygrad_nn, '__version__', '?')} "
                     f"({Path(tinygrad_nn.__file__).parent})")
    except Exception as e:  # noqa: BLE001 - report any import failure, the harness goes on
        lines.append(f"tinygrad_nn: import failed ({type(e).__name__}: {e})")
    if "torch" in sys.modules:
        lines.append(f"torch {sys.modules['torch'].__version__}")
    lines += [f"{k}: {v}" for k, v in thread_info().items()]
    return lines


def load_report() -> str:
    """The 1/5/15-minute load averages, with a warning when other processes use the CPUs."""
    one, five, fifteen = os.getloadavg()
    text = f"{one:.2f} {five:.2f} {fifteen:.2f}"
    if one > 0.5:
        text += (" (other processes are using the CPUs: timings are noisy, and multi-threaded "
                 "libraries suffer most)")
    return text


class OtherCpu:
    """CPU time that other processes used while this one ran (Linux /proc/stat minus getrusage).

    The benchmark shares the machine; this tells whether a timing was taken while something else
    was competing for the cores.
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        import resource

        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        busy = (user + nice + system + irq + softirq + steal) / tick
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return busy, ru.ru_utime + ru.ru_stime, time.perf_counter()

    def measure(self) -> tuple[float, float, float]:
        """(CPU-seconds used by others, wall seconds, fraction of the machine) since start."""
        busy, own, now = self._sample()
        b0, o0, t0 = self.start
        wall = max(now - t0, 1e-9)
        other = max(0.0, (busy - b0) - (own - o0))
        return other, wall, other / (wall * (os.cpu_count() or 1))

    def report(self) -> str:
        other, wall, frac = self.measure()
        text = (f"other processes used {other:.1f} CPU-s over {wall:.1f} s "
                f"({100 * frac:.0f}% of the machine)")
        if frac > 0.05:
            text += ": timings are disturbed (multi-threaded libraries suffer most)"
        return text


def limit_threads(n: int) -> None:
    """Use ``n`` threads in every pool: torch's and the BLAS/OpenMP ones (needs threadpoolctl)."""
    try:
        import threadpoolctl
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl to set the BLAS pool's size: "
                         "pip install threadpoolctl (or pip install -e '.[bench]')") from None

    threadpoolctl.threadpool_limits(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def try_import_torch():
    """torch, or None when it is not installed (the scripts then skip it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------------------------------------
# Timing and tables


def timeit(fn: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call, measured with perf_counter."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


@dataclass
class Stats:
    median: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, xs: Sequence[float]) -> Stats:
        return cls(statistics.median(xs), min(xs), max(xs), len(xs))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table, columns padded for reading in a terminal."""
    cells = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([fmt(cells[0]), sep] + [fmt(r) for r in cells[1:]])


def current_rss_bytes() -> int:
    """Resident set size now (Linux /proc/self/statm), in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes.

    Linux's VmHWM (/proc/self/status), which belongs to the address space and so starts afresh
    at exec; ``ru_maxrss`` does not (it keeps the parent's peak across fork + exec), so it is
    only the fallback.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, /proc/self/clear_refs); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def parse_block_args(p, argv, blocks: int):
    """Parse the options of the block-alternating scripts (``ab.py``, ``floor.py``), with
    ``--smoke`` meaning 2 blocks of 5 steps on synthetic data."""
    p.add_argument("--blocks", type=int, default=blocks)
    p.add_argument("--steps", type=int, default=200, help="steps per block")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--smoke", action="store_true", help="2 blocks of 5 steps on synthetic data")
    args = p.parse_args(argv)
    if args.smoke:
        args.blocks, args.steps, args.synthetic = 2, 5, True
    return args


def time_blocks(systems: dict[str, Callable[[np.ndarray, np.ndarray], object]], x: np.ndarray,
                y: np.ndarray, blocks: int, steps: int, batch_size: int = 10
                ) -> dict[str, np.ndarray]:
    """µs per step of each system, one entry per block of ``steps`` steps.

    Block b is the next ``steps`` mini-batches of (x, y), run by every system in turn; the order
    cycles through every rotation of the systems, forwards and backwards, so each system runs in
    every position and after every other one equally often. Block 0 warms up and is dropped.
    """
    names = list(systems)
    orders = [names[k:] + names[:k] for k in range(len(names))]
    orders += [o[::-1] for o in orders]
    times: dict[str, list[float]] = {name: [] for name in names}
    n = steps * batch_size
    for b in range(blocks + 1):
        lo = (b * n) % (len(x) - n)
        xs, ys = x[lo:lo + n], y[lo:lo + n]
        for name in orders[b % len(orders)]:
            t0 = time.perf_counter()
            systems[name](xs, ys)
            if b:
                times[name].append((time.perf_counter() - t0) / steps * 1e6)
    return {name: np.array(v) for name, v in times.items()}
