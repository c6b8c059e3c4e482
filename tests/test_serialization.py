"""Tests for tinygrad_nn.serialization: round trips, bad files, atomic writes, torch interop."""

import io
import json
import math
import os
import pickle
import stat
import sys
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import serialization
from tinygrad_nn.serialization import load, save

try:
    import safetensors  # noqa: F401
    HAVE_SAFETENSORS = True
except ImportError:
    HAVE_SAFETENSORS = False
needs_safetensors = pytest.mark.skipif(not HAVE_SAFETENSORS, reason="needs safetensors")
SUFFIXES = [".npz", pytest.param(".safetensors", marks=needs_safetensors)]
DTYPES = [np.float32, np.float64, np.int64, np.int32, np.bool_]


def assert_same(got, want, where="obj"):
    """Exact equality: same types (int stays int, tuple stays tuple), key order and key types,
    bitwise-equal arrays of the same dtype and shape, floats equal incl. NaN and the sign of 0."""
    assert type(got) is type(want), f"{where}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, dict):
        assert [(type(k), k) for k in got] == [(type(k), k) for k in want], f"{where}: keys"
        for k in want:
            assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: length"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape, f"{where}: dtype/shape"
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), f"{where}: values"
    elif isinstance(want, float):
        assert (math.isnan(got) and math.isnan(want)) or (
            got == want and math.copysign(1, got) == math.copysign(1, want)), f"{where}: {got}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def roundtrip(obj, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "state" + suffix)
        save(obj, path)
        return load(path)


def listdir(path):
    return sorted(os.listdir(path))


# ----------------------------------------------------------------------------- round trips

arrays = hnp.arrays(
    dtype=st.sampled_from(DTYPES),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
leaves = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
          | st.floats() | st.text(max_size=6) | arrays)
keys = st.text(max_size=6) | st.integers(min_value=-3, max_value=20)
trees = st.recursive(
    leaves,
    lambda children: (st.lists(children, max_size=4)
                      | st.lists(children, max_size=4).map(tuple)
                      | st.dictionaries(keys, children, max_size=4)),
    max_leaves=12,
)


@pytest.mark.parametrize("suffix", SUFFIXES)
@settings(max_examples=60)
@given(obj=trees)
def test_roundtrip_any_tree(suffix, obj):
    assert_same(roundtrip(obj, suffix), obj)


@pytest.mark.parametrize("suffix", SUFFIXES)
@settings(max_examples=30)
@given(sd=st.dictionaries(st.text(min_size=1, max_size=10), arrays, max_size=6))
def test_roundtrip_flat_state_dict(suffix, sd):
    """A model state dict; the loaded arrays are writable, C-contiguous and own their memory."""
    got = roundtrip(sd, suffix)
    assert_same(got, sd)
    for a in got.values():
        assert a.flags.writeable and a.flags.c_contiguous


OPTIMIZER_STATE = {
    "state": {
        0: {"momentum_buffer": np.arange(6, dtype=np.float32).reshape(2, 3)},
        1: {"step": np.array(3.0, dtype=np.float32), "exp_avg": np.zeros((0, 2))},
    },
    "param_groups": [
        {"lr": 0.1, "momentum": 0.9, "dampening": 0, "nesterov": False, "maximize": False,
         "betas": (0.9, 0.999), "eps": 1e-8, "foreach": None, "params": [0, 1]},
    ],
}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_optimizer_state_dict_layout(suffix):
    assert_same(roundtrip(OPTIMIZER_STATE, suffix), OPTIMIZER_STATE)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_key_order_and_key_types_preserved(suffix):
    # safetensors sorts its tensors internally; the order must come from the structure
    obj = {}
    for k in ["z", 10, "a", "10", 2, "m", -1, "0", 0, ""]:
        obj[k] = np.full(2, len(obj), dtype=np.int32)
    got = roundtrip(obj, suffix)
    assert [(type(k), k) for k in got] == [(type(k), k) for k in obj]
    assert_same(got, obj)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_special_floats_and_numbers(suffix):
    obj = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 1.0, 1,
           True, 2**64 + 1, -(2**63), "ünï\x00\ud800", None]
    assert_same(roundtrip(obj, suffix), obj)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_numpy_scalars_become_python_numbers(suffix):
    obj = {"f32": np.float32(1.1), "f16": np.float16(0.1), "f64": np.float64(2.5),
           "i64": np.int64(-7), "u64": np.uint64(2**64 - 1), "b": np.bool_(True),
           "i8": np.int8(-3), "s": np.str_("x")}
    want = {"f32": float(np.float32(1.1)), "f16": float(np.float16(0.1)), "f64": 2.5,
            "i64": -7, "u64": 2**64 - 1, "b": True, "i8": -3, "s": "x"}
    assert_same(roundtrip(obj, suffix), want)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_array_layouts_and_dtypes(suffix):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    obj = {
        "strided": base[:, ::2],
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "big_endian": np.arange(5, dtype=">f4"),
        "big_endian_i8": np.arange(5, dtype=">i8").reshape(5, 1),
    }
    for dt in [np.int8, np.int16, np.uint8, np.uint16, np.uint32, np.uint64, np.float16]:
        obj[np.dtype(dt).name] = np.arange(3, dtype=dt)
    got = roundtrip(obj, suffix)
    assert list(got) == list(obj)
    for k, a in obj.items():
        assert got[k].dtype == a.dtype.newbyteorder("="), k
        assert got[k].dtype.isnative and got[k].flags.c_contiguous
        np.testing.assert_array_equal(got[k], a)


class DuckTensor:
    """Stands for tinygrad_nn.Tensor: a ``.data`` ndarray and a ``detach`` method."""

    def __init__(self, data):
        self.data = data

    def detach(self):
        return DuckTensor(self.data)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_tensors_are_saved_as_arrays(suffix):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = roundtrip({"w": DuckTensor(w), "s": DuckTensor(np.array(5, np.int64))}, suffix)
    assert_same(got, {"w": w, "s": np.array(5, np.int64)})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_real_tensor(suffix):
    try:
        from tinygrad_nn.tensor import Tensor
    except ImportError:
        pytest.skip("tinygrad_nn.tensor.Tensor is not importable yet")
    w = np.arange(6, dtype=np.float64).reshape(3, 2)
    t = Tensor(w, requires_grad=True)
    assert_same(roundtrip({"w": t, "i": Tensor(np.array([1, 2], np.int32))}, suffix),
                {"w": w, "i": np.array([1, 2], np.int32)})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_containers_come_back_as_plain_types(suffix):
    obj = OrderedDict([("b", 1), ("a", (2, [3]))])
    got = roundtrip(obj, suffix)
    assert_same(got, {"b": 1, "a": (2, [3])})


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("obj", [{}, [], (), None, 3, "x", np.zeros((2, 0)), np.array(True)],
                         ids=repr)
def test_top_level_values(suffix, obj):
    assert_same(roundtrip(obj, suffix), obj)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_colliding_and_reserved_names(suffix):
    a, b, c, d = (np.full(1, i, np.int64) for i in range(4))
    obj = {"a.b": a, "a": {"b": b}, "a.b#1": c, "__metadata__": d, "file": a,
           "allow_pickle": b, "__tinygrad_nn_structure__": c, "x\x00y": d, "back\\slash": a,
           "shared": [a, a]}
    got = roundtrip(obj, suffix)
    assert_same(got, obj)
    assert got["shared"][0] is not got["shared"][1]


def test_npz_is_plain_numpy(tmp_path):
    path = tmp_path / "m.npz"
    sd = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
    save(sd, path)
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"0.weight", "0.bias", "__tinygrad_nn_structure__"}
        np.testing.assert_array_equal(npz["0.weight"], sd["0.weight"])
        assert npz["__tinygrad_nn_structure__"].dtype == np.uint8


@needs_safetensors
def test_safetensors_names_are_state_dict_keys(tmp_path):
    import safetensors
    path = tmp_path / "m.safetensors"
    sd = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32),
          "2.weight": np.ones((1, 2), np.float32)}
    save(sd, path)
    with safetensors.safe_open(str(path), framework="np") as f:
        assert set(f.keys()) == set(sd)
        for k in sd:
            np.testing.assert_array_equal(f.get_tensor(k), sd[k])


def test_suffix_is_case_insensitive_and_pathlike(tmp_path):
    save({"a": 1}, tmp_path / "X.NPZ")
    assert load(str(tmp_path / "X.NPZ")) == {"a": 1}


# ----------------------------------------------------------------------------- save errors

@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("bad, where", [
    ({"a": {"b": [1, object()]}}, "obj['a']['b'][1]"),
    ({"state": {0: {"x": 1 + 2j}}}, "obj['state'][0]['x']"),
    ({"a": b"bytes"}, "obj['a']"),
    ({"a": {1, 2}}, "obj['a']"),
    ({"a": np.complex64(1)}, "obj['a']"),
    ({"a": [np.array([object()])]}, "obj['a'][0]"),
    ({"a": np.array(["s"])}, "obj['a']"),
    ({"a": np.zeros(2, np.complex128)}, "obj['a']"),
    ({"a": DuckTensor(np.array([None]))}, "obj['a']"),
    ({"a": {(1, 2): 3}}, "obj['a']"),
    ({"a": {1.5: 3}}, "obj['a']"),
    ({"a": {True: 3}}, "obj['a']"),
    ({"a": {None: 3}}, "obj['a']"),
])
def test_save_rejects_unsupported_types(tmp_path, suffix, bad, where):
    with pytest.raises(TypeError) as info:
        save(bad, tmp_path / ("x" + suffix))
    assert where in str(info.value)
    assert listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_rejects_cycles(tmp_path, suffix):
    cyclic = {"a": []}
    cyclic["a"].append(cyclic)
    with pytest.raises(ValueError, match=r"obj\['a'\]\[0\]"):
        save(cyclic, tmp_path / ("x" + suffix))
    assert listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["x.pt", "x.pth", "x", "x.npy", "x.json", "x.npz.tmp"])
def test_unknown_suffix(tmp_path, name):
    with pytest.raises(ValueError) as info:
        save({"a": 1}, tmp_path / name)
    assert ".npz" in str(info.value) and ".safetensors" in str(info.value)
    with pytest.raises(ValueError, match=r"\.safetensors"):
        load(tmp_path / name)
    assert listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_directory_and_file(tmp_path, suffix):
    with pytest.raises(FileNotFoundError):
        save({"a": 1}, tmp_path / "missing" / ("x" + suffix))
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing" / ("x" + suffix))
    with pytest.raises(FileNotFoundError):
        load(tmp_path / ("x" + suffix))
    assert listdir(tmp_path) == []


@needs_safetensors
def test_missing_safetensors_package(tmp_path, monkeypatch):
    path = tmp_path / "x.safetensors"
    save({"a": np.ones(2)}, path)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    for call in (lambda: save({"a": 1}, tmp_path / "y.safetensors"), lambda: load(path)):
        with pytest.raises(ImportError, match=r"pip install safetensors"):
            call()
    assert listdir(tmp_path) == ["x.safetensors"]
    save({"a": 1}, tmp_path / "y.npz")  # .npz needs nothing but NumPy
    assert load(tmp_path / "y.npz") == {"a": 1}


# ----------------------------------------------------------------------------- bad files

SAMPLE = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "lr": 0.5, "ids": [1, (2, None)]}


class Boom:
    """Unpickling this creates ``marker``: proof that nothing was unpickled if it stays absent."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def write_npz(path, structure, **arrays):
    members = {serialization._NPZ_STRUCTURE: np.frombuffer(structure.encode(), np.uint8)}
    members.update(arrays)
    np.savez(path, **members)


def write_safetensors(path, structure, **arrays):
    import safetensors.numpy as safetensors_numpy

    metadata = None if structure is None else {"tinygrad_nn": structure}
    safetensors_numpy.save_file(arrays, str(path), metadata=metadata)


def doc(root):
    return json.dumps({"format": "tinygrad_nn.state", "version": 1, "root": root})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_pickle_files_are_never_unpickled(tmp_path, suffix):
    marker = tmp_path / "unpickled"
    path = tmp_path / ("evil" + suffix)
    path.write_bytes(pickle.dumps({"a": Boom(marker)}))
    with pytest.raises(ValueError, match=str(path.name)):
        load(path)
    assert not marker.exists()


def test_npz_with_object_array_is_rejected(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npz"
    write_npz(path, doc({"dict": [["a", {"array": "a"}]]}),
              a=np.array([Boom(marker), 1], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        load(path)
    np.savez(path, a=np.array([Boom(marker), 1], dtype=object))  # and without a structure
    with pytest.raises(ValueError):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_truncated_files(tmp_path, suffix):
    path = tmp_path / ("x" + suffix)
    save(SAMPLE, path)
    data = path.read_bytes()
    for n in range(len(data)):  # every proper prefix
        path.write_bytes(data[:n])
        with pytest.raises(ValueError, match="x" + suffix):
            load(path)
    path.write_bytes(data)
    assert_same(load(path), SAMPLE)


def test_npz_corrupted_data_fails_crc(tmp_path):
    path = tmp_path / "x.npz"
    save(SAMPLE, path)
    data = bytearray(path.read_bytes())
    at = bytes(data).find(np.arange(12, dtype=np.float32).tobytes())
    assert at > 0
    data[at + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="x.npz"):
        load(path)


def test_npz_header_larger_than_member(tmp_path):
    """A member whose .npy header claims 8 GB is refused before anything is allocated."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
    path = tmp_path / "x.npz"
    write_npz(path, doc({"array": "a"}))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("a.npy", header.getvalue() + b"\0" * 8)
    with pytest.raises(ValueError, match="declares shape"):
        load(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("content", [
    b"", b"hello world\n", b"PK\x03\x04 not really a zip", bytes(range(256)) * 4,
    json.dumps({"a": 1}).encode(),
], ids=["empty", "text", "fake-zip-magic", "binary", "json"])
def test_not_an_archive(tmp_path, suffix, content):
    path = tmp_path / ("x" + suffix)
    path.write_bytes(content)
    with pytest.raises(ValueError, match="x" + suffix):
        load(path)


def test_foreign_files_are_rejected(tmp_path):
    np.save(tmp_path / "single.npy", np.ones(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    with pytest.raises(ValueError, match="single .npy"):
        load(tmp_path / "single.npz")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="other.npz"):
        load(tmp_path / "other.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))  # a plain NumPy archive: no structure
    with pytest.raises(ValueError, match="__tinygrad_nn_structure__"):
        load(tmp_path / "plain.npz")


@needs_safetensors
def test_each_format_under_the_others_suffix(tmp_path):
    save(SAMPLE, tmp_path / "a.npz")
    os.replace(tmp_path / "a.npz", tmp_path / "a.safetensors")
    with pytest.raises(ValueError, match="a.safetensors"):
        load(tmp_path / "a.safetensors")
    save(SAMPLE, tmp_path / "b.safetensors")
    os.replace(tmp_path / "b.safetensors", tmp_path / "b.npz")
    with pytest.raises(ValueError, match="b.npz"):
        load(tmp_path / "b.npz")


@needs_safetensors
def test_safetensors_without_structure(tmp_path):
    path = tmp_path / "x.safetensors"
    write_safetensors(path, None, a=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="structure"):
        load(path)


BAD_STRUCTURES = {
    "not-json": "{not json",
    "truncated-json": "[1, 2",
    "wrong-format": json.dumps({"format": "other", "version": 1, "root": None}),
    "no-root": json.dumps({"format": "tinygrad_nn.state", "version": 1}),
    "future-version": json.dumps({"format": "tinygrad_nn.state", "version": 99, "root": None}),
    "a-list": json.dumps([1, 2]),
    "nan-token": '{"format":"tinygrad_nn.state","version":1,"root":NaN}',
    "unknown-tag": doc({"set": [1]}),
    "two-tags": doc({"tuple": [], "dict": []}),
    "bad-float": doc({"float": "1.5"}),
    "dict-not-pairs": doc({"dict": [["a"]]}),
    "bool-key": doc({"dict": [[True, 1]]}),
    "float-key": doc({"dict": [[1.5, 1]]}),
    "duplicate-key": doc({"dict": [["a", 1], ["a", 2]]}),
    "duplicate-json-key": '{"format":"tinygrad_nn.state","version":1,"root":1,"root":2}',
    "missing-array": doc({"dict": [["a", {"array": "a"}], ["b", {"array": "nope"}]]}),
    "array-twice": doc([{"array": "a"}, {"array": "a"}]),
    "unreferenced-array": doc(None),
    "array-name-not-str": doc({"array": 3}),
    "too-deep": '{"format":"tinygrad_nn.state","version":1,"root":' + "[" * 100000
                + "]" * 100000 + "}",
}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("structure", BAD_STRUCTURES.values(), ids=BAD_STRUCTURES.keys())
def test_malformed_structure(tmp_path, suffix, structure):
    path = tmp_path / ("x" + suffix)
    writer = write_npz if suffix == ".npz" else write_safetensors
    writer(path, structure, a=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="x" + suffix):
        load(path)


def test_npz_structure_member_not_utf8_or_not_uint8(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, __tinygrad_nn_structure__=np.frombuffer(b"\xff\xfe", np.uint8))
    with pytest.raises(ValueError, match="x.npz"):
        load(path)
    np.savez(path, __tinygrad_nn_structure__=np.array([doc(None)]))  # a unicode array
    with pytest.raises(ValueError, match="uint8"):
        load(path)


def test_npz_member_with_unsupported_dtype(tmp_path):
    path = tmp_path / "x.npz"
    write_npz(path, doc({"array": "a"}), a=np.ones(2, np.complex64))
    with pytest.raises(ValueError, match="complex64"):
        load(path)


@needs_safetensors
def test_safetensors_member_with_unsupported_dtype(tmp_path):
    path = tmp_path / "x.safetensors"
    write_safetensors(path, doc({"array": "a"}), a=np.ones(2, np.complex64))
    with pytest.raises(ValueError, match="C64"):
        load(path)
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    for dtype, name in [(torch.bfloat16, "BF16"), (torch.float8_e4m3fn, "F8_E4M3")]:
        safetensors_torch.save_file({"a": torch.ones(2, dtype=dtype)}, str(path),
                                    metadata={"tinygrad_nn": doc({"array": "a"})})
        with pytest.raises(ValueError, match=name):
            load(path)


def test_well_formed_handmade_structure_loads(tmp_path):
    """The layout described in the docstring is all a reader needs (guards the bad cases above:
    they fail for the stated reason, not because the helpers write unreadable files)."""
    root = {"dict": [["a", {"array": "a"}], [3, {"tuple": [{"float": "-inf"}, 1.5, [True]]}]]}
    write_npz(tmp_path / "x.npz", doc(root), a=np.ones(2, np.float32))
    assert_same(load(tmp_path / "x.npz"),
                {"a": np.ones(2, np.float32), 3: (-math.inf, 1.5, [True])})
    if not HAVE_SAFETENSORS:
        return
    write_safetensors(tmp_path / "x.safetensors", doc(root), a=np.ones(2, np.float32))
    assert_same(load(tmp_path / "x.safetensors"),
                {"a": np.ones(2, np.float32), 3: (-math.inf, 1.5, [True])})


# ----------------------------------------------------------------------------- atomic writes

NEW = {"w": np.full((50, 50), 7.0), "note": "new"}


def half_writer(real, exc):
    """A writer that writes half of what ``real`` would, then raises ``exc``."""
    def write(f, arrays, structure):
        buffer = io.BytesIO()
        real(buffer, arrays, structure)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        raise exc
    return write


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "interrupt"])
def test_interrupted_save_keeps_old_file(tmp_path, monkeypatch, suffix, exc):
    path = tmp_path / ("x" + suffix)
    save(SAMPLE, path)
    old = path.read_bytes()
    real = serialization._WRITERS[suffix]
    monkeypatch.setitem(serialization._WRITERS, suffix, half_writer(real, exc))
    with pytest.raises(type(exc)):
        save(NEW, path)
    assert path.read_bytes() == old
    assert listdir(tmp_path) == [path.name]
    assert_same(load(path), SAMPLE)
    # and an interrupted first save leaves nothing behind
    with pytest.raises(type(exc)):
        save(NEW, tmp_path / ("y" + suffix))
    assert listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failed_fsync_or_replace_keeps_old_file(tmp_path, monkeypatch, suffix):
    path = tmp_path / ("x" + suffix)
    save(SAMPLE, path)
    old = path.read_bytes()

    def fail(*args):
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", fail)
        with pytest.raises(OSError, match="Input/output"):
            save(NEW, path)
    assert path.read_bytes() == old and listdir(tmp_path) == [path.name]
    with monkeypatch.context() as m:
        m.setattr(os, "replace", fail)
        with pytest.raises(OSError, match="Input/output"):
            save(NEW, path)
    assert path.read_bytes() == old and listdir(tmp_path) == [path.name]
    (tmp_path / "dir.npz").mkdir()  # replacing a directory fails: the temp file goes
    with pytest.raises(OSError):
        save(NEW, tmp_path / "dir.npz")
    assert listdir(tmp_path) == ["dir.npz", path.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_replaces_and_keeps_permissions(tmp_path, suffix):
    path = tmp_path / ("x" + suffix)
    old_umask = os.umask(0o027)
    try:
        save(SAMPLE, path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # as open() would, not mkstemp's 0o600
    path.chmod(0o604)
    save(NEW, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    assert_same(load(path), NEW)
    assert listdir(tmp_path) == [path.name]


# ----------------------------------------------------------------------------- torch interop

def to_numpy(tree, torch):
    if isinstance(tree, torch.Tensor):
        return tree.detach().numpy().copy()
    if isinstance(tree, dict):
        return {k: to_numpy(v, torch) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_numpy(v, torch) for v in tree)
    return tree


def to_torch(tree, torch):
    if isinstance(tree, np.ndarray):
        return torch.from_numpy(tree)
    if isinstance(tree, dict):
        return {k: to_torch(v, torch) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_torch(v, torch) for v in tree)
    return tree


def make_torch_model(torch, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 2))


def test_safetensors_model_loads_into_torch(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    src = make_torch_model(torch, 0)
    sd = to_numpy(src.state_dict(), torch)  # a state dict as tinygrad_nn's: str -> ndarray
    path = tmp_path / "model.safetensors"
    save(sd, path)
    dst = make_torch_model(torch, 1)
    loaded = safetensors_torch.load_file(str(path))
    assert set(loaded) == set(sd)
    dst.load_state_dict(loaded, strict=True)
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(4, 3)
    assert torch.equal(src(x), dst(x))


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_torch_optimizer_state_roundtrip(tmp_path, suffix, kind):
    torch = pytest.importorskip("torch")
    model = make_torch_model(torch, 0)
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    sd = to_numpy(opt.state_dict(), torch)
    path = tmp_path / ("opt" + suffix)
    save(sd, path)
    got = load(path)
    assert_same(got, sd)
    assert all(type(k) is int for k in got["state"])
    # the loaded state resumes training in torch exactly like the original
    clone = make_torch_model(torch, 0)
    clone.load_state_dict(model.state_dict())
    opt2 = type(opt)(clone.parameters(), lr=0.5)
    opt2.load_state_dict(to_torch(got, torch))
    x = torch.randn(4, 3)
    for o, mdl in ((opt, model), (opt2, clone)):
        o.zero_grad()
        mdl(x).pow(2).sum().backward()
        o.step()
    for a, b in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_member_whose_declared_size_its_bytes_cannot_hold_is_rejected_before_reading(tmp_path):
    """A forged zip64 size must not make load() allocate it (MemoryError, or gigabytes)."""
    path = tmp_path / "forged.npz"
    save({"a": np.zeros(8)}, str(path))
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    forged = tmp_path / "forged2.npz"
    with zipfile.ZipFile(forged, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            with z.open(name, "w", force_zip64=True) as f:
                f.write(data)
        z.filelist[-1].file_size = 10**13
    with pytest.raises(ValueError, match="cannot hold them"):
        load(str(forged))
