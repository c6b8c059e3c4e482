"""Run examples/mnist.py and examples/sweep.py with small sizes and check what they claim.

Each test calls the example's ``main(argv)`` and checks its results against things computed here
independently: the accuracy is recounted with NumPy from the returned weights, saved files are
read back with ``tinygrad_nn.load`` into a fresh network, and ``--data`` reads IDX files written
here from a synthetic data set whose classes are easy to tell apart.
"""

from __future__ import annotations

import importlib.util
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.data import load_mnist_sample

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_example(name: str, source: str | None = None):
    """Import examples/<name>.py as a fresh module (optionally from edited ``source``)."""
    path = EXAMPLES / f"{name}.py"
    module_name = f"examples_mnist_{name}_{'edited' if source else 'orig'}"
    if source is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    module = type(sys)(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def mnist():
    return load_example("mnist")


@pytest.fixture(scope="module")
def sweep():
    return load_example("sweep")


@pytest.fixture(scope="module")
def test_set():
    return load_mnist_sample(train=False)


def numpy_forward(state: dict, x: np.ndarray, final_sigmoid: bool = True) -> np.ndarray:
    """The network of a state dict ``{"0.weight", "0.bias", "2.weight", ...}`` in plain NumPy:
    a = σ(a Wᵀ + b) layer by layer (no σ on the last layer if not ``final_sigmoid``)."""
    weights = sorted((k for k in state if k.endswith(".weight")),
                     key=lambda k: int(k.split(".")[0]))
    a = x.astype(np.float64)
    for i, key in enumerate(weights):
        w = np.asarray(state[key], dtype=np.float64)
        b = np.asarray(state[key.replace(".weight", ".bias")], dtype=np.float64)
        a = a @ w.T + b
        if final_sigmoid or i < len(weights) - 1:
            a = 1.0 / (1.0 + np.exp(-a))
    return a


def state_arrays(model) -> dict[str, np.ndarray]:
    return {k: np.array(v.detach().numpy()) for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------------------------
# mnist.py
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_epoch_run(mnist):
    """The book's network, 2 epochs on the bundled sample, seed 0 (shared by several tests)."""
    return mnist.main(["--epochs", "2", "--seed", "0", "--quiet"])


def test_learns_in_two_epochs(two_epoch_run, test_set):
    x_test, y_test = test_set
    result = two_epoch_run
    assert result["sizes"] == [784, 30, 10]
    assert result["lr"] == 3.0
    assert result["n_test"] == len(y_test) == 1000
    assert len(result["accuracy"]) == len(result["epoch_time"]) == len(result["cost"]) == 2
    # Chance is 0.1; 30 seeds gave 0.645 to 0.86 after 2 epochs (median 0.74).
    assert result["accuracy"][-1] > 0.6
    # The reported accuracy is what the returned weights really score (recounted in NumPy).
    state = state_arrays(result["model"])
    predicted = numpy_forward(state, x_test).argmax(axis=1)
    assert int((predicted == y_test).sum()) == result["correct"][-1]
    assert result["accuracy"][-1] == result["correct"][-1] / len(y_test)
    assert all(t > 0 for t in result["epoch_time"])
    assert result["total_time"] >= sum(result["epoch_time"])


def test_book_init_draws_from_standard_normal(mnist):
    """--init book (the default): all 23,860 weights and biases ~ N(0, 1), not PyTorch's
    U(−1/√784, 1/√784) (whose std is 0.0206 for the first layer)."""
    tg.manual_seed(123)
    model = mnist.build_model([784, 30, 10], "quadratic", "book")
    values = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    assert values.size == 784 * 30 + 30 + 30 * 10 + 10
    assert abs(values.mean()) < 0.05 and abs(values.std() - 1.0) < 0.05
    tg.manual_seed(123)
    first = mnist.build_model([784, 30, 10], "quadratic", "pytorch")[0].weight.detach().numpy()
    assert np.abs(first).max() <= 1 / np.sqrt(784)


def test_seed_makes_runs_identical(mnist, two_epoch_run):
    again = mnist.main(["--epochs", "2", "--seed", "0", "--quiet"])
    assert again["correct"] == two_epoch_run["correct"]
    assert again["cost"] == two_epoch_run["cost"]
    first, second = state_arrays(two_epoch_run["model"]), state_arrays(again["model"])
    assert list(first) == list(second)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    other = mnist.main(["--epochs", "2", "--seed", "1", "--quiet"])
    assert not np.array_equal(state_arrays(other["model"])["0.weight"], first["0.weight"])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_loads_into_a_fresh_model(mnist, tmp_path, test_set, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    path = tmp_path / f"model{suffix}"
    result = mnist.main(["--epochs", "1", "--hidden", "20", "--seed", "3", "--quiet",
                         "--save", str(path)])
    assert path.is_file()
    assert not [p.name for p in tmp_path.iterdir() if p != path]  # no temporary left behind
    loaded = tg.load(path)
    assert list(loaded) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert loaded["0.weight"].shape == (20, 784) and loaded["2.weight"].shape == (10, 20)

    fresh = mnist.build_model([784, 20, 10], "quadratic", "pytorch")
    fresh.load_state_dict(loaded)
    x = tg.from_numpy(test_set[0])
    with tg.no_grad():
        np.testing.assert_array_equal(fresh(x).numpy(), result["model"](x).numpy())


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file: 0, 0, type code 0x08 (unsigned byte), number of dims; then each dim as a
    big-endian uint32; then the data, row-major."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def synthetic_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Four MNIST-format files: the image of class k has rows 2k+4 and 2k+5 bright on noise."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 80, size=(n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k + 4: 2 * k + 6, 3:25] = rng.integers(200, 256, size=(2, 22))
        write_idx(root / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels)


def test_data_dir_reads_idx_files(mnist, tmp_path, capsys):
    synthetic_mnist(tmp_path, n_train=600, n_test=200)
    result = mnist.main(["--data", str(tmp_path), "--epochs", "3", "--seed", "0"])
    out = capsys.readouterr().out
    assert result["n_train"] == 600 and result["n_test"] == 200
    assert result["accuracy"][-1] > 0.9  # the bars are easy to tell apart
    # The book's per-epoch line, once per epoch.
    lines = re.findall(r"^Epoch (\d+): (\d+) / 200 \((\d+\.\d\d)%\)", out, flags=re.MULTILINE)
    assert [int(k) for k, _, _ in lines] == [1, 2, 3]
    assert [int(c) for _, c, _ in lines] == result["correct"]
    assert [float(p) for _, _, p in lines] == [round(100 * c / 200, 2) for c in result["correct"]]


def test_bad_arguments_fail_before_training(mnist, tmp_path, capsys):
    for argv, message in [
        (["--data", str(tmp_path / "missing")], "not found"),
        (["--save", str(tmp_path / "model.pt")], ".npz or .safetensors"),
        (["--save", str(tmp_path / "no" / "model.npz")], "does not exist"),
        (["--plot", str(tmp_path / "curve.pdf")], ".png"),
        (["--epochs", "0"], "positive integer"),
        (["--lr", "-1"], "positive"),
        (["--loss", "hinge"], "invalid choice"),
        (["--download", "mnist"], "needs --data"),
    ]:
        with pytest.raises(SystemExit) as info:
            mnist.main(argv)
        assert info.value.code == 2
        assert message in capsys.readouterr().err, argv


def test_cross_entropy_trains(mnist, test_set):
    result = mnist.main(["--loss", "cross-entropy", "--epochs", "2", "--seed", "0", "--quiet"])
    assert result["lr"] == 0.5
    # 30 seeds gave 0.80 to 0.87 after 2 epochs.
    assert result["accuracy"][-1] > 0.7
    model = result["model"]
    assert type(model[-1]).__name__ == "Linear"  # logits: no sigmoid on the output layer
    state = state_arrays(model)
    logits = numpy_forward(state, test_set[0], final_sigmoid=False)
    assert int((logits.argmax(axis=1) == test_set[1]).sum()) == result["correct"][-1]
    # A uniform guess costs log(10) = 2.30 per example; the trained network costs far less.
    assert result["cost"][-1] < np.log(10) / 2


def test_plot_without_matplotlib_warns_and_trains(mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    path = tmp_path / "curve.png"
    result = mnist.main(["--epochs", "1", "--seed", "0", "--quiet", "--plot", str(path)])
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err and str(path) in err
    assert len(result["accuracy"]) == 1
    assert not path.exists()


def test_plot_with_matplotlib_writes_png(mnist, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.png"
    mnist.main(["--epochs", "2", "--seed", "0", "--quiet", "--plot", str(path)])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_progress_bar_fallback_without_tqdm(mnist, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    items = list(mnist.progress(iter(range(7)), 7, "Epoch 1", enabled=True))
    assert items == list(range(7))
    err = capsys.readouterr().err
    assert "Epoch 1 [" in err and "7/7" in err and "\n" not in err  # one line, redrawn
    assert list(mnist.progress(range(3), 3, "x", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_runs_on_pytorch_with_the_imports_changed(test_set):
    """The README's claim: replacing the three tinygrad_nn imports by PyTorch's is enough."""
    torch = pytest.importorskip("torch")
    source = (EXAMPLES / "mnist.py").read_text()
    replacements = {
        "import tinygrad_nn as tg": "import torch as tg",
        "from tinygrad_nn import nn, optim": "from torch import nn, optim",
        "from tinygrad_nn.data import DataLoader, TensorDataset":
            "from torch.utils.data import DataLoader, TensorDataset",
    }
    lines = source.splitlines()
    for i, line in enumerate(lines):
        for old, new in replacements.items():
            if line.strip() == old:
                lines[i] = new
    assert sum(line in replacements.values() for line in lines) == 3
    on_torch = load_example("mnist", "\n".join(lines) + "\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add overhead (10x on a busy machine)
    try:
        result = on_torch.main(["--epochs", "2", "--seed", "0", "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert isinstance(result["model"][0].weight, torch.nn.Parameter)
    assert result["accuracy"][-1] > 0.6


# --------------------------------------------------------------------------------------------
# sweep.py
# --------------------------------------------------------------------------------------------


def test_sweep_prints_full_table(sweep, capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    batch_sizes, lrs = [10, 50], [0.5, 3.0, 10.0]
    plot = tmp_path / "grid.png"
    result = sweep.main(["--batch-sizes", *map(str, batch_sizes), "--lrs", *map(str, lrs),
                         "--epochs", "1", "--train-size", "1000", "--quiet", "--plot", str(plot)])
    captured = capsys.readouterr()
    assert "matplotlib is not installed" in captured.err and not plot.exists()
    assert set(result["accuracy"]) == {(m, lr) for m in batch_sizes for lr in lrs}
    assert all(0.0 <= a <= 1.0 for a in result["accuracy"].values())
    # The printed table: a header with every learning rate, one row per batch size, and in
    # each row the accuracy of every (batch size, lr) pair, in %, in the order of the header.
    out = captured.out
    header = next(line for line in out.splitlines() if line.strip().startswith("batch \\ lr"))
    assert [float(v) for v in header.split()[3:]] == lrs
    for m in batch_sizes:
        row = next(line for line in out.splitlines() if re.match(rf"^\s*{m}\s+\d", line))
        cells = [float(c) for c in re.findall(r"(\d+\.\d)%", row)]
        assert cells == [round(100 * result["accuracy"][m, lr], 1) for lr in lrs]
    # Training happened: the cells differ, and the best is well above chance (10%; 0.40 seen).
    assert len(set(result["accuracy"].values())) > 1
    assert max(result["accuracy"].values()) > 0.2


def test_sweep_runs_share_the_initial_weights(sweep):
    """Same seed, same grid cell -> the same accuracy; the table compares hyper-parameters."""
    argv = ["--batch-sizes", "20", "--lrs", "3", "--epochs", "1", "--train-size", "500",
            "--quiet"]
    assert sweep.main(argv)["accuracy"] == sweep.main(argv)["accuracy"]


def test_sweep_heatmap_png(sweep, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "grid.png"
    sweep.main(["--batch-sizes", "50", "100", "--lrs", "1", "3", "--epochs", "1",
                "--train-size", "500", "--quiet", "--plot", str(path)])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
