"""Data loading: ``Dataset``, ``TensorDataset``, ``DataLoader`` (PyTorch's semantics), and MNIST.

- :func:`read_idx` reads an IDX file (MNIST's format), raw or gzip, validating its header.
- :func:`load_mnist` loads MNIST or Fashion-MNIST from the four standard files, optionally
  downloading them (MD5-verified, atomic writes).
- :func:`load_mnist_sample` returns the bundled 5,000 real MNIST digits, split 4,000 / 1,000.
"""

from .dataset import DataLoader, Dataset, TensorDataset, default_collate, default_convert
from .download import ChecksumError, DownloadError
from .idx import read_idx
from .mnist import load_mnist, load_mnist_sample

__all__ = [
    "Dataset",
    "TensorDataset",
    "DataLoader",
    "default_collate",
    "default_convert",
    "read_idx",
    "load_mnist",
    "load_mnist_sample",
    "DownloadError",
    "ChecksumError",
]
