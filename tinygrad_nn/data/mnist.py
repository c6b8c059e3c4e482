"""MNIST-format data sets: the four standard IDX files under a directory, and the bundled sample.

Both loaders return ``(x, y)``: ``x`` float32 of shape (N, 784), pixel / 255 so in [0, 1]
(row-major 28 x 28 images flattened), and ``y`` int64 of shape (N,).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from .download import MD5, MIRRORS, ChecksumError, download_file, md5sum
from .idx import read_idx

__all__ = ["load_mnist", "load_mnist_sample", "MNIST_FILES", "SAMPLE_FILES"]

#: (images, labels) file names of each split, without the optional ".gz".
MNIST_FILES: dict[bool, tuple[str, str]] = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: The bundled 5,000-digit sample (package data under tinygrad_nn/data/mnist_sample/).
SAMPLE_FILES = ("sample-5k-images-idx3-ubyte.gz", "sample-5k-labels-idx1-ubyte.gz")
SAMPLE_SPLIT_SEED = 0
SAMPLE_TEST_PER_CLASS = 100


def _to_xy(images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str):
    """Check an (images, labels) pair and convert it to (x float32 (N, 784) in [0,1], y int64)."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_name}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_name}: expected uint8 labels of shape (N,), "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_name} holds {len(images)} images but {labels_name} holds "
            f"{len(labels)} labels"
        )
    x = images.reshape(len(images), 28 * 28).astype(np.float32)
    x /= np.float32(255)
    return x, labels.astype(np.int64)


def _ensure_downloaded(
    root: Path,
    names: Sequence[str],
    dataset: str,
    mirrors: Sequence[str] | None,
    md5: Mapping[str, str] | None,
    timeout: float,
    progress: bool,
) -> None:
    """Make ``root/<name>.gz`` exist with the expected MD5 for each name, fetching missing ones."""
    if dataset not in MD5:
        raise ValueError(f"unknown dataset {dataset!r}, expected one of {sorted(MD5)}")
    mirrors = MIRRORS[dataset] if mirrors is None else mirrors
    sums = MD5[dataset] if md5 is None else md5
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        gz = name + ".gz"
        if gz not in sums:
            raise ValueError(f"no MD5 sum known for {gz} (the md5 table has {sorted(sums)})")
        want = sums[gz].lower()
        path = root / gz
        if path.exists():
            got = md5sum(path)
            if got != want:
                raise ChecksumError(
                    f"{path} exists but its MD5 is {got}, expected {want} for {dataset}: "
                    "the file is corrupt or not the published one; delete it to download it "
                    "again, or load it unverified with download=False"
                )
            continue
        download_file(gz, root, mirrors, want, timeout=timeout, progress=progress)


def _find(root: Path, name: str) -> Path:
    """``root/name.gz`` if present (what download writes and verifies), else ``root/name``."""
    for candidate in (root / (name + ".gz"), root / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name} not found in {root} (looked for {name}.gz and {name}); "
        "pass download=True to fetch it"
    )


def load_mnist(
    root: str | os.PathLike,
    train: bool = True,
    download: bool = False,
    *,
    dataset: str = "mnist",
    mirrors: Sequence[str] | None = None,
    md5: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or Fashion-MNIST, or any data set in the same four files) from ``root``.

    Reads ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` (``train=True``) or
    ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte`` (``train=False``), each raw or with
    ``.gz`` (the ``.gz`` is used when both exist). Returns ``x`` float32 (N, 784), pixel / 255 in
    [0, 1], and ``y`` int64 (N,).

    ``download=True`` first makes sure the split's two ``.gz`` files are in ``root`` with the MD5
    sums of ``dataset`` (``"mnist"`` or ``"fashion-mnist"``): a missing file is fetched from
    ``mirrors`` (default :data:`~tinygrad_nn.data.download.MIRRORS` ``[dataset]``, tried in turn)
    and written atomically; a present one is verified and, if its MD5 is wrong, a
    :class:`~tinygrad_nn.data.download.ChecksumError` is raised (it is never overwritten). ``md5``
    overrides the table of sums (a mapping from ``.gz`` file name to hex MD5).

    Raises ``FileNotFoundError`` naming a missing file, ``ValueError`` for a malformed file, images
    that are not 28 x 28, or image and label counts that differ, and
    :class:`~tinygrad_nn.data.download.DownloadError` when every mirror fails.
    """
    root = Path(root)
    names = MNIST_FILES[bool(train)]
    if download:
        _ensure_downloaded(root, names, dataset, mirrors, md5, timeout, progress)
    images_path, labels_path = (_find(root, n) for n in names)
    images, labels = read_idx(images_path), read_idx(labels_path)
    return _to_xy(images, labels, str(images_path), str(labels_path))


def _key(purpose: bytes, i: int) -> bytes:
    return hashlib.sha256(b"%d:%s:%d" % (SAMPLE_SPLIT_SEED, purpose, i)).digest()


@functools.lru_cache(maxsize=1)
def _sample_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, train indices, test indices) of the bundled sample; computed once."""
    folder = resources.files(__package__).joinpath("mnist_sample")
    arrays = []
    for name in SAMPLE_FILES:
        with resources.as_file(folder.joinpath(name)) as path:
            arrays.append(read_idx(path))
    images, labels = arrays
    counts = np.bincount(labels, minlength=10) if labels.ndim == 1 else None
    if images.shape != (5000, 28, 28) or counts is None or list(counts) != [500] * 10:
        raise ValueError(
            "the bundled MNIST sample is damaged: expected 5000 28x28 images with 500 labels "
            f"of each digit, got images {images.shape} and label counts {counts}"
        )
    seen = np.zeros(10, dtype=np.int64)
    in_test = np.zeros(len(labels), dtype=bool)
    for i in sorted(range(len(labels)), key=lambda i: _key(b"split", i)):
        in_test[i] = seen[labels[i]] < SAMPLE_TEST_PER_CLASS
        seen[labels[i]] += 1
    order = np.array(sorted(range(len(labels)), key=lambda i: _key(b"order", i)))
    return images, labels, order[~in_test[order]], order[in_test[order]]


def load_mnist_sample(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The bundled 5,000 real MNIST digits, split into 4,000 training and 1,000 test examples.

    Returns fresh arrays ``x`` float32 (N, 784) in [0, 1] and ``y`` int64 (N,), N = 4000 for
    ``train=True`` and 1000 otherwise. The split is stratified (400 + 100 of each digit) and fixed
    forever, independent of any random state or library version. With ``SAMPLE_SPLIT_SEED`` = 0
    and ``i`` the example's position in the bundled files (written in decimal):

    - the test set holds, for each digit, the 100 examples with the smallest
      ``sha256(b"0:split:" + i)``; the other 400 of each digit are the training set;
    - both sets are ordered by increasing ``sha256(b"0:order:" + i)``, so digits come mixed.
    """
    images, labels, train_idx, test_idx = _sample_split()
    idx = train_idx if train else test_idx
    return _to_xy(images[idx], labels[idx], SAMPLE_FILES[0], SAMPLE_FILES[1])
