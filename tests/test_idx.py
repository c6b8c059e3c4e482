"""read_idx: every IDX element type, raw and gzip (detected by content), and malformed files."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn.data import read_idx

# The IDX type codes as the format's description (yann.lecun.com/exdb/mnist) lists them.
TYPE_CODES = {0x08: "u1", 0x09: "i1", 0x0B: "i2", 0x0C: "i4", 0x0D: "f4", 0x0E: "f8"}


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """Encode ``arr`` as IDX by hand: 0, 0, type code, ndim, big-endian u32 sizes, payload."""
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(">" + TYPE_CODES[code]).tobytes()


def write(path, data: bytes, compress: bool):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@settings(max_examples=60)
@given(
    code=st.sampled_from(sorted(TYPE_CODES)),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    compress=st.booleans(),
    data=st.data(),
)
def test_roundtrip_every_type(tmp_path_factory, code, shape, compress, data):
    dtype = np.dtype(TYPE_CODES[code])
    elements = None if dtype.kind != "f" else st.floats(-1e6, 1e6, width=8 * dtype.itemsize)
    arr = data.draw(hnp.arrays(dtype, shape, elements=elements))
    # The suffix lies on purpose: detection must go by content.
    path = tmp_path_factory.mktemp("idx") / ("file.raw" if compress else "file.gz")
    out = read_idx(write(path, idx_bytes(arr, code), compress))
    assert out.shape == arr.shape
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable


def test_mnist_like_file_with_path_and_str(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    path = write(tmp_path / "imgs-idx3-ubyte.gz", idx_bytes(images, 0x08), True)
    np.testing.assert_array_equal(read_idx(path), images)
    np.testing.assert_array_equal(read_idx(str(path)), images)


def test_big_endian_values_are_decoded(tmp_path):
    # int16 258 is stored as bytes 01 02; float32 1.0 as 3f 80 00 00.
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(read_idx(write(tmp_path / "a", raw, False)), [258, -2])
    raw = bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0x80, 0, 0])
    assert read_idx(write(tmp_path / "b", raw, True)).tolist() == [1.0]


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x01" + GOOD[1:], ["magic"]),
        (b"\x00\x07" + GOOD[2:], ["magic"]),
        (GOOD[:2] + b"\x0a" + GOOD[3:], ["type code", "0x0A"]),
        (GOOD[:2] + b"\x07" + GOOD[3:], ["type code", "0x07"]),
        (GOOD[:3] + b"\x00", ["0 dimensions"]),
        (GOOD[:-1], ["shorter", "11", "12"]),
        (GOOD + b"\x00", ["longer", "13", "12"]),
        (GOOD + b"extra bytes", ["longer"]),
        (GOOD[:10], ["ended inside", "dimension"]),
        (b"", ["ended inside", "header"]),
        (b"\x00\x00\x08", ["ended inside", "header"]),
    ],
)
def test_malformed_files_raise_value_error_naming_file(tmp_path, compress, data, words):
    path = write(tmp_path / "bad-idx-file", data, compress)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    message = str(info.value)
    assert "bad-idx-file" in message
    for word in words:
        assert word in message


def test_truncated_gzip_stream(tmp_path):
    payload = idx_bytes(np.random.default_rng(1).integers(0, 256, (50, 28, 28), np.uint8), 8)
    packed = gzip.compress(payload)
    for cut in (len(packed) - 4, len(packed) // 2, 20):
        path = tmp_path / f"cut{cut}.gz"
        path.write_bytes(packed[:cut])
        with pytest.raises(ValueError, match=rf"cut{cut}\.gz.*truncated gzip"):
            read_idx(path)


def test_gzip_with_bad_crc(tmp_path):
    packed = bytearray(gzip.compress(GOOD))
    packed[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match="crc.gz.*corrupt gzip"):
        read_idx(path)


def test_gzip_magic_but_not_gzip(tmp_path):
    path = write(tmp_path / "fake", b"\x1f\x8b" + b"\x00" * 40, False)
    with pytest.raises(ValueError, match="fake"):
        read_idx(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_idx("/nonexistent/dir/train-images-idx3-ubyte")


def huge_header(sizes, code=0x08):
    return struct.pack(">BBBB", 0, 0, code, len(sizes)) + struct.pack(f">{len(sizes)}I", *sizes)


@pytest.mark.parametrize("compress", [False, True])
def test_absurd_declared_size_is_rejected_before_allocating(tmp_path, compress):
    # 4e9 ** 3 * 8 bytes: any attempt to allocate would raise MemoryError, not ValueError.
    data = huge_header([4_000_000_000] * 3, code=0x0E) + b"\x00" * 100
    path = write(tmp_path / "huge", data, compress)
    with pytest.raises(ValueError, match="huge"):
        read_idx(path)


def test_gzip_payload_memory_follows_the_data_not_the_header(tmp_path):
    # 64 KiB of incompressible payload, header claiming 60 MB: plausible for the compressed size
    # (deflate can expand ~1000x), so the reader must find out by reading, in bounded chunks.
    payload = np.random.default_rng(2).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    path = write(tmp_path / "liar.gz", huge_header([60_000_000]) + payload, True)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="shorter"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000_000, f"peak allocation {peak} bytes for a 64 KiB payload"
