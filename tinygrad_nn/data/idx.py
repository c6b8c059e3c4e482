"""Reading IDX files, the format MNIST and Fashion-MNIST ship in (raw or gzip-compressed).

An IDX file is a header followed by the array's elements in C order, big-endian:

    bytes 0-1   0x00 0x00                 magic
    byte  2     type code                 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                          0x0D float32, 0x0E float64
    byte  3     ndim (>= 1)
    then ndim   unsigned 32-bit sizes     (big-endian), one per dimension
    then        prod(sizes) * itemsize    bytes of payload, nothing more

Nothing in the header is trusted: the declared payload size is checked against the file's size
(raw) or against what a gzip stream of that size can possibly hold (deflate expands at most
~1032:1) before anything is allocated, and a gzip payload is read in bounded chunks, so a
corrupt or hostile header cannot make the reader allocate gigabytes.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import BinaryIO

import numpy as np

__all__ = ["read_idx", "IDX_DTYPES"]

#: IDX type code -> big-endian NumPy dtype of the stored elements.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
# Deflate's best case is a 258-byte match coded in ~2 bits: ratio < 1032. A declared payload
# larger than this times the compressed size cannot be in the file, so we refuse it up front.
_MAX_DEFLATE_RATIO = 1032
_GZIP_SLACK = 1 << 16
_CHUNK = 1 << 22  # 4 MiB per read from a gzip stream
_MAX_NDIM = 64  # the most dimensions a NumPy (>= 2.0) array can have


class _ReadError(Exception):
    """Internal: a problem with the stream, turned into ValueError(path: message)."""


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _ReadError(f"file ended inside the {what} ({len(data)} of {n} bytes)")
    return data


def _parse_header(f: BinaryIO) -> tuple[np.dtype, tuple[int, ...], int]:
    """Read and validate the header; return (stored dtype, shape, header length in bytes)."""
    head = _read_exact(f, 4, "4-byte IDX header")
    if head[0] != 0 or head[1] != 0:
        raise _ReadError(
            f"bad magic number: first two bytes are 0x{head[0]:02x} 0x{head[1]:02x}, "
            "expected 0x00 0x00 (not an IDX file)"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items())
        raise _ReadError(f"unknown type code 0x{code:02X}, expected one of {known}")
    if ndim < 1 or ndim > _MAX_NDIM:
        raise _ReadError(f"header declares {ndim} dimensions, expected 1 to {_MAX_NDIM}")
    dims = _read_exact(f, 4 * ndim, f"{ndim} dimension sizes")
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
    return IDX_DTYPES[code], shape, 4 + 4 * ndim


def _read_payload_raw(f: BinaryIO, nbytes: int, avail: int) -> bytearray:
    if avail != nbytes:
        side = "shorter" if avail < nbytes else "longer"
        raise _ReadError(
            f"payload is {side} than the header declares: {avail} bytes present, "
            f"{nbytes} declared"
        )
    buf = bytearray(nbytes)
    got = f.readinto(buf)
    if got != nbytes:  # the file changed under us
        raise _ReadError(f"payload is shorter than the header declares: read {got} of {nbytes}")
    return buf


def _read_payload_gzip(f: BinaryIO, nbytes: int) -> bytearray:
    """Read exactly ``nbytes`` then check the stream ends there (and its CRC), in chunks."""
    buf = bytearray()
    while len(buf) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(buf)))
        if not chunk:
            raise _ReadError(
                f"payload is shorter than the header declares: {len(buf)} bytes present, "
                f"{nbytes} declared"
            )
        buf += chunk
    extra = 0
    while chunk := f.read(_CHUNK):  # reaching EOF also verifies the gzip CRC and length
        extra += len(chunk)
    if extra:
        raise _ReadError(
            f"payload is longer than the header declares: {nbytes + extra} bytes present, "
            f"{nbytes} declared"
        )
    return buf


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw, or gzip detected by its magic bytes, whatever the suffix).

    Returns a new, writable NumPy array of the header's shape and element type in native byte
    order: uint8, int8, int16, int32, float32 or float64 (type codes 0x08, 0x09, 0x0B, 0x0C, 0x0D,
    0x0E).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and the
    problem for a bad magic number, an unknown type code, an invalid number of dimensions, a
    payload shorter or longer than the header declares, or a truncated or corrupt gzip stream.
    It never returns a partial array.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        try:
            if is_gzip:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    dtype, shape, _ = _parse_header(f)
                    nbytes = math.prod(shape) * dtype.itemsize
                    if nbytes > _MAX_DEFLATE_RATIO * file_size + _GZIP_SLACK:
                        raise _ReadError(
                            f"header declares shape {shape} ({nbytes} bytes), more than a "
                            f"{file_size}-byte gzip file can hold: corrupt header"
                        )
                    buf = _read_payload_gzip(f, nbytes)
            else:
                dtype, shape, header_len = _parse_header(raw)
                nbytes = math.prod(shape) * dtype.itemsize
                buf = _read_payload_raw(raw, nbytes, file_size - header_len)
        except _ReadError as e:
            raise ValueError(f"{path}: {e}") from None
        except EOFError as e:  # gzip stream cut short
            raise ValueError(f"{path}: truncated gzip stream ({e})") from None
        except (gzip.BadGzipFile, zlib.error) as e:
            raise ValueError(f"{path}: corrupt gzip stream ({e})") from None
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr
