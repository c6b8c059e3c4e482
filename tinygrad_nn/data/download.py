"""Fetching files over HTTP(S) with the standard library: mirrors in turn, MD5 check, atomic write.

``download_file`` streams a file into a temporary name in the destination directory, checks its
length against ``Content-Length`` and its MD5 against the expected sum, and only then renames it
into place with ``os.replace``. On any failure the temporary file is removed, the next mirror is
tried, and when every mirror has failed a :class:`DownloadError` lists each URL and why it failed.
No partial or unverified file is ever left at the destination.

The mirror lists and checksums of MNIST and Fashion-MNIST are the module-level tables
:data:`MIRRORS` and :data:`MD5`. The MD5 sums are the ones torchvision publishes
(pytorch/vision, ``torchvision/datasets/mnist.py``, classes ``MNIST`` and ``FashionMNIST``); they
are sums of the ``.gz`` files as distributed.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["MIRRORS", "MD5", "DownloadError", "ChecksumError", "download_file", "md5sum"]

#: Base URLs tried in order for each data set (a file's URL is base + file name).
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

#: MD5 of each distributed .gz file, from torchvision/datasets/mnist.py (pytorch/vision).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

_BLOCK = 1 << 16


class DownloadError(RuntimeError):
    """Every mirror failed for a file. ``attempts`` is a list of ``(url, reason)`` pairs."""

    def __init__(self, filename: str, attempts: Sequence[tuple[str, str]]):
        self.filename = filename
        self.attempts = list(attempts)
        lines = [f"could not download {filename}; tried {len(self.attempts)} URL(s):"]
        lines += [f"  {url}: {reason}" for url, reason in self.attempts]
        if not self.attempts:
            lines = [f"could not download {filename}: no mirror URLs given"]
        super().__init__("\n".join(lines))


class ChecksumError(RuntimeError):
    """A file already present on disk does not have the expected MD5."""


class _BadDownload(Exception):
    """Internal: the transfer completed but its content is wrong (length or MD5)."""


def md5sum(path: str | os.PathLike) -> str:
    """Hex MD5 of a file's bytes, read in blocks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class _Progress:
    """A one-line progress report on stderr, redrawn when the shown percentage changes."""

    def __init__(self, label: str, total: int | None, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled
        self.shown: object = None

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.total:
            pct = 100 * done // self.total
            key, text = pct, f"{pct:3d}% ({_size(done)} of {_size(self.total)})"
        else:
            key, text = done >> 20, _size(done)
        if key != self.shown:
            self.shown = key
            sys.stderr.write(f"\rdownloading {self.label}: {text}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.shown is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _fetch(url: str, dest: Path, md5: str, timeout: float, progress: bool) -> None:
    """Download ``url`` to ``dest`` through a temporary file; raise on any problem."""
    # Not tempfile.mkstemp: its 0600 mode would survive the rename; "xb" honours the umask.
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(8)}.part"
    try:
        with open(tmp, "xb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "tinygrad_nn"})
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                bar = _Progress(url, total, progress)
                h, done = hashlib.md5(), 0
                try:
                    while block := resp.read(_BLOCK):
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        bar.update(done)
                finally:
                    bar.close()
            if total is not None and done != total:
                raise _BadDownload(
                    f"connection closed after {done} of {total} bytes (Content-Length)"
                )
            if h.hexdigest() != md5:
                raise _BadDownload(f"MD5 mismatch: got {h.hexdigest()}, expected {md5}")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_file(
    filename: str,
    root: str | os.PathLike,
    mirrors: Sequence[str],
    md5: str,
    *,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Fetch ``filename`` into ``root`` from the first mirror that delivers it intact.

    Tries ``mirror + filename`` for each mirror in order (a missing trailing ``/`` is added). A
    transfer counts only if it has the ``Content-Length`` the server announced and MD5 ``md5``;
    it is written to a temporary file in ``root`` and renamed to ``root/filename`` with
    ``os.replace``. ``timeout`` (seconds) bounds each connection attempt and each read.
    Progress goes to stderr unless ``progress=False``.

    Returns the destination path. Raises :class:`DownloadError` (a ``RuntimeError``) listing
    every URL tried and its failure if no mirror succeeds; nothing is left behind in that case.
    """
    dest = Path(root) / filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[tuple[str, str]] = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += filename
        try:
            _fetch(url, dest, md5.lower(), timeout, progress)
            return dest
        except _BadDownload as e:
            attempts.append((url, str(e)))
        except (OSError, http.client.HTTPException, ValueError) as e:
            attempts.append((url, f"{type(e).__name__}: {e}"))
    raise DownloadError(filename, attempts)
