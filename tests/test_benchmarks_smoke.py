"""The benchmark scripts run end to end in smoke mode and print finite numbers.

No timing is asserted (the machine is shared): only that each script completes with exit code 0,
that every system's row carries finite numbers, and that tinygrad_nn actually ran. The scripts run
on small synthetic data; ``run.py`` includes PyTorch when it is installed (the comparison code
path), the other two leave it out to stay fast.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?x?$", re.IGNORECASE)


def run_script(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / name), "--smoke", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (f"{name} --smoke exited {proc.returncode}\n"
                                  f"--- stdout\n{proc.stdout[-4000:]}\n"
                                  f"--- stderr\n{proc.stderr[-4000:]}")
    return proc.stdout


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the markdown table rows whose first cell is ``first_cell`` or continues it
    after a space (``"Nielsen per-example"`` matches ``"Nielsen per-example (f64)"``)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == first_cell or cells[0].startswith(first_cell + " "):
                rows.append(cells)
    return rows


def numbers(cells: list[str]) -> list[float]:
    """Every numeric cell (ranges 'a-b' split, a trailing 'x' or word dropped) as a float."""
    out = []
    for cell in cells[1:]:
        for part in re.split(r"(?<=\d)-(?=\d)", cell):
            token = part.split()[0] if part.split() else ""
            token = token.replace(",", "")
            if NUMBER.match(token):
                out.append(float(token.rstrip("xX")))
            elif token.lower() in ("nan", "inf", "-inf", "+inf", "failed"):
                raise AssertionError(f"non-finite or failed cell {cell!r} in {cells}")
    return out


def assert_finite_rows(text: str, first_cell: str, min_rows: int, min_numbers: int) -> None:
    rows = table_rows(text, first_cell)
    assert len(rows) >= min_rows, f"expected >= {min_rows} rows for {first_cell!r}:\n{text}"
    for cells in rows:
        vals = numbers(cells)
        assert len(vals) >= min_numbers, f"row has too few numbers: {cells}"
        assert all(math.isfinite(v) for v in vals), cells


@pytest.fixture(scope="module")
def run_output() -> str:
    return run_script("run.py", "--synthetic")


def test_run_smoke_every_system_row_is_finite(run_output):
    # book float32, book float64, wide float32: one table each
    assert_finite_rows(run_output, "tinygrad_nn", 3, 5)
    assert_finite_rows(run_output, "hand-written NumPy", 3, 5)
    assert_finite_rows(run_output, "Nielsen per-example", 2, 5)
    if importlib.util.find_spec("torch") is not None:  # the script runs in this interpreter
        assert_finite_rows(run_output, "PyTorch eager", 3, 5)
    else:
        assert "torch not installed" in run_output


def test_run_smoke_systems_compute_the_same_thing(run_output):
    checks = [ln for ln in run_output.splitlines() if "max |Δparam|" in ln]
    assert any(ln.strip().startswith("tinygrad_nn") for ln in checks), run_output
    assert checks and all(ln.rstrip().endswith("ok") for ln in checks), "\n".join(checks)
    assert "## errors" not in run_output


def test_micro_smoke():
    out = run_script("micro.py", "--no-torch")
    assert_finite_rows(out, "tinygrad_nn", 2, 4)          # chain and fan-out rows
    assert_finite_rows(out, "tinygrad_nn, gc disabled", 2, 4)  # the chain once more, GC off
    per_op = table_rows(out, "tinygrad_nn:")
    assert len(per_op) == 3 and all(numbers(r) for r in per_op), out
    assert_finite_rows(out, "import tinygrad_nn", 1, 1)


def test_memory_smoke():
    out = run_script("memory.py", "--no-torch")
    assert_finite_rows(out, "tinygrad_nn", 1, 6)
    assert_finite_rows(out, "hand-written NumPy", 1, 6)


def test_profile_step_smoke():
    out = run_script("profile_step.py", "--no-torch")
    assert_finite_rows(out, "total", 1, 1)
    assert_finite_rows(out, "forward", 1, 1)
    assert_finite_rows(out, "backward", 1, 1)
    counted = re.search(r"Python work per tinygrad_nn step: ([\d,]+) bytecodes, (\d+) Python", out)
    assert counted and int(counted[1].replace(",", "")) > 0 and int(counted[2]) > 0, out
    assert_finite_rows(out, "optim/sgd.py:step", 1, 2)  # the per-function table


def test_profile_step_wide_smoke():
    out = run_script("profile_step.py", "--no-torch", "--workload", "wide")
    assert "wide training step (batch 256" in out
    assert_finite_rows(out, "total", 1, 1)
    assert_finite_rows(out, "step", 1, 1)


@pytest.mark.parametrize("workload", ["book", "wide"])
def test_ab_smoke(workload):
    out = run_script("ab.py", "HEAD", "--workload", workload)
    assert out.startswith(f"# {workload} float32, batch {10 if workload == 'book' else 256}:")
    assert_finite_rows(out, "this checkout", 1, 2)
    assert_finite_rows(out, "HEAD", 1, 2)
    assert re.search(r"this checkout / HEAD: \d+\.\d+", out), out


def test_paired_ratio_is_the_median_of_same_repeat_ratios(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import run

    by_repeat = {"a": {0: 2.0, 1: 4.0, 2: 9.0}, "b": {0: 1.0, 1: 1.0, 3: 5.0}}
    assert run.same_repeat_ratios(by_repeat, "a", "b") == [2.0, 4.0]  # repeats 0 and 1
    assert run.paired_ratio(by_repeat, "a", "b") == 3.0
    assert run.paired_ratio(by_repeat, "b", "a") == 0.375
    assert run.paired_ratio(by_repeat, "a", "missing") is None


@pytest.mark.parametrize("n, batch, segments", [(60_000, 10, 10), (60_000, 256, 10),
                                                 (6_000, 10, 10), (25, 10, 4), (7, 10, 3)])
def test_segments_together_are_the_batches_of_one_pass(monkeypatch, n, batch, segments):
    """run.py times an epoch in turns: its segments must be whole mini-batches, in order, that
    cover every example once (so a segmented epoch trains exactly the batches of an
    uninterrupted one)."""
    monkeypatch.syspath_prepend(str(BENCH))
    import run

    bounds = [run._segment(n, batch, segments, k) for k in range(segments)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (_, b), (c, _) in zip(bounds, bounds[1:], strict=False):
        assert b == c  # contiguous, in order
    for a, b in bounds:
        assert a <= b and a % batch == 0 and (b % batch == 0 or b == n)
    uninterrupted = list(range(0, n, batch))
    segmented = [i for a, b in bounds for i in range(a, b, batch)]
    assert segmented == uninterrupted


def test_floor_smoke():
    """The unsafe variants and the three bounds train exactly what tinygrad_nn trains (else
    their times mean nothing); the script exits 1 if any parameter differs."""
    out = run_script("floor.py")
    for name in ("tinygrad_nn", "-engine", "-optimizer", "-modules", "-all", "API arithmetic",
                 "replay sketch", "guarded replay"):
        assert_finite_rows(out, name, 1, 3)
    assert "equal tinygrad_nn's: True" in out, out


def test_run_settles_between_segments_only_with_multithreaded_pools(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import run

    assert run.parse_args(["--threads", "2"]).settle == run.SETTLE > 0
    assert run.parse_args(["--threads", "1"]).settle == 0
    assert run.parse_args(["--threads", "2", "--smoke"]).settle == 0
    assert run.parse_args(["--settle", "0.5"]).settle == 0.5
    monkeypatch.setattr(run.os, "cpu_count", lambda: 1)
    assert run.parse_args([]).settle == 0  # library defaults on one CPU: nothing spins
    monkeypatch.setattr(run.os, "cpu_count", lambda: 2)
    assert run.parse_args([]).settle == run.SETTLE
    with pytest.raises(SystemExit):
        run.parse_args(["--settle", "-1"])
