"""load_mnist on generated files (raw, gzip) and on Fashion-MNIST; the bundled sample and split."""

import gzip
import hashlib
import os
import struct
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn.data import load_mnist, load_mnist_sample, read_idx

# From /work/shared/data/mnist-sample/README.md (the sample's provenance record).
SAMPLE_SHA256 = {
    "sample-5k-images-idx3-ubyte.gz": (
        "43c5e1b2023a0f9e6f68716a370ad391785305c6b25b5d5771a01a689b0c8553"
    ),
    "sample-5k-labels-idx1-ubyte.gz": (
        "360d3e14b1606c6ca7bbdd7a56f66110e0a0f33c9385046855e2ac4a3ee82d80"
    ),
}
FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def idx_u8(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def make_split(root: Path, prefix: str, n: int, seed: int, gz: bool, image_side: int = 28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, image_side, image_side), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # make sure both ends of the range occur
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    files = {f"{prefix}-images-idx3-ubyte": images, f"{prefix}-labels-idx1-ubyte": labels}
    for name, arr in files.items():
        data = idx_u8(arr)
        (root / (name + suffix)).write_bytes(gzip.compress(data) if gz else data)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_both_splits(tmp_path, gz):
    train_images, train_labels = make_split(tmp_path, "train", 9, seed=1, gz=gz)
    test_images, test_labels = make_split(tmp_path, "t10k", 4, seed=2, gz=gz)
    for train, images, labels in ((True, train_images, train_labels),
                                  (False, test_images, test_labels)):
        x, y = load_mnist(tmp_path, train=train)
        assert x.dtype == np.float32 and x.shape == (len(images), 784)
        assert y.dtype == np.int64 and y.shape == (len(images),)
        expected = images.reshape(len(images), -1).astype(np.float64) / 255.0
        np.testing.assert_allclose(x, expected, rtol=1e-7, atol=0)
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_array_equal(y, labels)


def test_load_mnist_accepts_str_root_and_mixed_compression(tmp_path):
    images, labels = make_split(tmp_path, "train", 5, seed=3, gz=True)
    # Replace the labels by an uncompressed file: each file is found with or without .gz.
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_u8(labels))
    x, y = load_mnist(str(tmp_path))
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(np.rint(x * 255).astype(np.uint8), images.reshape(5, -1))


def test_gz_is_preferred_when_both_exist(tmp_path):
    make_split(tmp_path, "train", 5, seed=4, gz=False)
    images, labels = make_split(tmp_path, "train", 6, seed=5, gz=True)
    x, y = load_mnist(tmp_path)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("missing", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
def test_missing_file_is_named(tmp_path, missing):
    make_split(tmp_path, "train", 3, seed=6, gz=True)
    (tmp_path / (missing + ".gz")).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        load_mnist(tmp_path)


def test_missing_test_split(tmp_path):
    make_split(tmp_path, "train", 3, seed=7, gz=True)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, train=False)


def test_count_mismatch(tmp_path):
    make_split(tmp_path, "train", 5, seed=8, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_u8(np.zeros(4, np.uint8)))
    )
    with pytest.raises(ValueError, match="5 images.*4 labels"):
        load_mnist(tmp_path)


def test_wrong_image_shape(tmp_path):
    make_split(tmp_path, "train", 2, seed=9, gz=False, image_side=32)
    with pytest.raises(ValueError, match=r"28, 28.*\(2, 32, 32\)"):
        load_mnist(tmp_path)


def test_labels_file_swapped_with_images(tmp_path):
    make_split(tmp_path, "train", 2, seed=10, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    labels = tmp_path / "train-labels-idx1-ubyte"
    data = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(data)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_debian():
    x, y = load_mnist(FASHION, train=True)
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [6000] * 10
    assert 0.0 <= x.min() and x.max() <= 1.0
    x, y = load_mnist(FASHION, train=False)
    assert x.shape == (10000, 784) and y.shape == (10000,)
    assert np.bincount(y).tolist() == [1000] * 10


# ----------------------------------------------------------------------------- bundled sample

def sample_file(name: str):
    return resources.files("tinygrad_nn.data").joinpath("mnist_sample", name)


@pytest.mark.parametrize("name", sorted(SAMPLE_SHA256))
def test_bundled_sample_sha256(name):
    assert hashlib.sha256(sample_file(name).read_bytes()).hexdigest() == SAMPLE_SHA256[name]


@pytest.fixture(scope="module")
def raw_sample():
    paths = [sample_file(n) for n in sorted(SAMPLE_SHA256)]
    with resources.as_file(paths[0]) as images, resources.as_file(paths[1]) as labels:
        return read_idx(images), read_idx(labels)


@pytest.fixture(scope="module")
def split():
    return load_mnist_sample(train=True), load_mnist_sample(train=False)


def positions(x: np.ndarray, raw_images: np.ndarray) -> np.ndarray:
    """Where each row of x (pixel/255) sits in the raw sample file (rows are unique)."""
    where = {row.tobytes(): i for i, row in enumerate(raw_images.reshape(len(raw_images), -1))}
    assert len(where) == len(raw_images)
    pixels = np.rint(x * 255).astype(np.uint8)
    return np.array([where[row.tobytes()] for row in pixels])


def test_sample_formats_and_stratification(split):
    for (x, y), n in zip(split, (4000, 1000), strict=True):
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10
        assert np.any(y[:50] != np.sort(y[:50])), "examples should not come sorted by label"


def test_sample_split_is_a_partition_of_the_real_files(split, raw_sample):
    raw_images, raw_labels = raw_sample
    (x_train, y_train), (x_test, y_test) = split
    p_train, p_test = positions(x_train, raw_images), positions(x_test, raw_images)
    assert sorted(np.concatenate([p_train, p_test]).tolist()) == list(range(5000))
    np.testing.assert_array_equal(y_train, raw_labels[p_train])
    np.testing.assert_array_equal(y_test, raw_labels[p_test])
    np.testing.assert_array_equal(x_test, raw_images[p_test].reshape(-1, 784) / np.float32(255))


def test_sample_split_follows_the_documented_rule(split, raw_sample):
    # load_mnist_sample's docstring: per digit, the 100 smallest sha256(b"0:split:<i>") are test;
    # both sets ordered by sha256(b"0:order:<i>"). Recomputed here from that statement alone.
    raw_images, raw_labels = raw_sample

    def key(purpose, i):
        return hashlib.sha256(f"0:{purpose}:{i}".encode()).digest()

    test = set()
    for digit in range(10):
        members = [i for i in range(5000) if raw_labels[i] == digit]
        test.update(sorted(members, key=lambda i: key("split", i))[:100])
    order = sorted(range(5000), key=lambda i: key("order", i))
    (x_train, _), (x_test, _) = split
    assert positions(x_test, raw_images).tolist() == [i for i in order if i in test]
    assert positions(x_train, raw_images).tolist() == [i for i in order if i not in test]


def test_sample_returns_fresh_arrays(split):
    (x, y), _ = split
    x2, y2 = load_mnist_sample()
    assert not np.shares_memory(x, x2) and not np.shares_memory(y, y2)
    x2[:] = -1
    y2[:] = -1
    x3, y3 = load_mnist_sample()
    np.testing.assert_array_equal(x3, x)
    np.testing.assert_array_equal(y3, y)


def test_sample_is_package_data_next_to_the_module():
    import tinygrad_nn.data

    folder = Path(tinygrad_nn.data.__file__).parent / "mnist_sample"
    assert sorted(os.listdir(folder)) == sorted(SAMPLE_SHA256)
