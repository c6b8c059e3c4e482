"""``save`` / ``load``: state dicts to ``.npz`` or ``.safetensors`` files, never pickled.

What can be saved: a tree of ``dict`` (keys ``str`` or ``int``), ``list``, ``tuple``, ``None``,
``bool``, ``int``, ``float``, ``str`` and arrays — NumPy arrays and ``tinygrad_nn.Tensor`` (its
``.data`` is saved; the graph and ``requires_grad`` are not). That covers a model's state dict
(``{"0.weight": w, "0.bias": b, ...}``) and an optimizer's, in PyTorch's layout
(``{"state": {0: {"momentum_buffer": m}}, "param_groups": [{"lr": 0.1, "params": [0]}]}``).

What ``load`` gives back: the same tree, with the same key order and key types (``int`` keys stay
``int``), tuples as tuples, every array as a writable, C-contiguous, native-endian NumPy array with
its dtype and shape (0-d and empty included), numbers as Python ``bool``/``int``/``float``
(NaN and ±inf included). Deliberate simplifications, each predictable:

- NumPy scalars (``np.float32(1.5)``, ``np.int64(3)``, ``np.bool_(True)``) are numbers, so they
  are saved as the Python number of the same value (``.item()``, exact) and come back as
  ``float``/``int``/``bool``. To keep a dtype, save a 0-d array (``np.array(1.5, np.float32)``).
- ``dict`` subclasses (``OrderedDict``) come back as ``dict`` (which keeps the order), tuple
  subclasses (named tuples) as ``tuple``, ``str``/``int``/``float`` subclasses as the base type.
- An array that appears twice in the tree is stored twice and comes back as two arrays.
- Array dtypes: bool, int8/16/32/64, uint8/16/32/64, float16/32/64 (what both formats hold).

The file layout. The tree is written as JSON (``{"format": "tinygrad_nn.state", "version": 1,
"root": node}``) in which a node is ``null``, ``true``/``false``, a JSON integer, a finite JSON
float, a string, a JSON array (a list), or an object with exactly one key: ``{"tuple": [...]}``,
``{"dict": [[key, node], ...]}``, ``{"array": name}`` (an array stored under ``name``) or
``{"float": "nan" | "inf" | "-inf"}``. Each array is stored under its key path joined with
``"."`` (``"0.weight"``, ``"state.0.momentum_buffer"``), made unique with a ``#n`` suffix if two
paths collide; so a flat model state dict has its tensors under exactly its keys.

- ``.npz`` (NumPy only): a zip of ``.npy`` members written by ``np.savez(..., allow_pickle=False)``,
  one per array, plus the JSON as UTF-8 bytes in a uint8 member named ``__tinygrad_nn_structure__``.
  ``np.load(path)["0.weight"]`` works too.
- ``.safetensors`` (needs the optional ``safetensors`` package): written with
  ``safetensors.numpy``; the JSON is the metadata entry ``"tinygrad_nn"``. The file loads with
  ``safetensors.torch.load_file`` into ``torch.nn.Module.load_state_dict``.

Safety: ``load`` never unpickles and checks the file before trusting it; anything that is not a
complete file of this layout (pickled objects, truncation, a foreign archive, a missing or malformed
structure, an ``.npy`` header that disagrees with its member's size) raises ``ValueError`` naming
the file and the problem. ``save`` writes to a temporary file in the target's directory, fsyncs and
renames it over ``path`` with ``os.replace``, so an interrupted save leaves ``path`` as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

import numpy as np

__all__ = ["save", "load", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".npz", ".safetensors")

_FORMAT = "tinygrad_nn.state"
_VERSION = 1
_NPZ_STRUCTURE = "__tinygrad_nn_structure__"  # npz member with the JSON as uint8 UTF-8 bytes
_SAFETENSORS_KEY = "tinygrad_nn"  # safetensors metadata entry with the JSON
_DTYPES = frozenset(
    np.dtype(t)
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64, np.float16, np.float32, np.float64)
)
_DTYPE_NAMES = ", ".join(sorted(d.name for d in _DTYPES))
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# ----------------------------------------------------------------------------- public API

def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (a state dict: see the module docstring) to ``path`` atomically.

    The format follows the suffix: ``.npz`` or ``.safetensors``.

    Raises ``ValueError`` for another suffix or a circular reference, ``TypeError`` (naming the key
    path, e.g. ``obj['state'][0]['step']``) for a value or dict key of an unsupported type,
    ``ImportError`` for ``.safetensors`` without the ``safetensors`` package, and
    ``FileNotFoundError`` when the directory does not exist.
    """
    path = os.fsdecode(path)
    suffix = _suffix(path)
    if suffix == ".npz":
        encoder = _Encoder(reserved={_NPZ_STRUCTURE, "file", "allow_pickle"},
                           name_ok=lambda name: "\x00" not in name and "\\" not in name)
    else:
        _import_safetensors()
        encoder = _Encoder(reserved={"__metadata__"}, name_ok=lambda name: True)
    root = encoder.encode(obj, ())
    structure = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root},
                           allow_nan=False, separators=(",", ":"))
    writer = _WRITERS[suffix]
    _atomic_write(path, lambda f: writer(f, encoder.arrays, structure))


def load(path: str | os.PathLike[str]) -> Any:
    """Read back what :func:`save` wrote to ``path``, without unpickling anything.

    Raises ``FileNotFoundError`` for a missing file or directory, ``ValueError`` (naming the file
    and the problem) for an unsupported suffix or a file that is not a complete, well-formed file
    of this layout, and ``ImportError`` for ``.safetensors`` without the ``safetensors`` package.
    """
    path = os.fsdecode(path)
    suffix = _suffix(path)
    return _load_npz(path) if suffix == ".npz" else _load_safetensors(path)


# ----------------------------------------------------------------------------- encoding

def _where(keys: tuple) -> str:
    return "obj" + "".join(f"[{k!r}]" for k in keys)


def _tensor_array(value: Any) -> np.ndarray | None:
    """The NumPy array behind ``value`` if it is an array or a tinygrad_nn Tensor, else None.

    A Tensor is recognised by its interface (``.data`` is an ndarray, and it has ``detach``), so
    this module never imports the tensor module.
    """
    if isinstance(value, np.ndarray):
        return value
    data = getattr(value, "data", None)
    if isinstance(data, np.ndarray) and callable(getattr(value, "detach", None)):
        return data
    return None


class _Encoder:
    """Turns a tree into JSON-able nodes; its arrays go to ``self.arrays`` (name → array)."""

    def __init__(self, reserved: set[str], name_ok: Callable[[str], bool]) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._reserved = reserved
        self._name_ok = name_ok
        self._open: set[int] = set()  # ids of the containers on the current path

    def encode(self, value: Any, keys: tuple) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            value = float(value)
            if math.isfinite(value):
                return value
            return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, str):
            return str(value)
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return self.encode(value.item(), keys)
        array = _tensor_array(value)
        if array is not None:
            return {"array": self._add_array(array, keys)}
        if isinstance(value, (dict, list, tuple)):
            if id(value) in self._open:
                raise ValueError(f"cannot save {_where(keys)}: it contains itself")
            self._open.add(id(value))
            try:
                if isinstance(value, dict):
                    return {"dict": [[self._key(k, keys), self.encode(v, (*keys, k))]
                                     for k, v in value.items()]}
                items = [self.encode(v, (*keys, i)) for i, v in enumerate(value)]
                return {"tuple": items} if isinstance(value, tuple) else items
            finally:
                self._open.discard(id(value))
        raise TypeError(
            f"cannot save {_where(keys)}: unsupported type {type(value).__module__}."
            f"{type(value).__qualname__}; expected dict, list, tuple, None, bool, int, float, str, "
            "a NumPy array or a tinygrad_nn Tensor")

    @staticmethod
    def _key(key: Any, keys: tuple) -> str | int:
        if isinstance(key, str):
            return str(key)
        if isinstance(key, int) and not isinstance(key, bool):
            return int(key)
        raise TypeError(f"cannot save {_where(keys)}: dict key {key!r} has type "
                        f"{type(key).__name__}; keys must be str or int")

    def _add_array(self, array: np.ndarray, keys: tuple) -> str:
        native = array.dtype.newbyteorder("=")
        if native not in _DTYPES:
            raise TypeError(f"cannot save {_where(keys)}: arrays of dtype {array.dtype} are not "
                            f"supported; expected one of {_DTYPE_NAMES}")
        base = ".".join(str(k) for k in keys)
        if not self._name_ok(base):
            base = "tensor"
        name, n = base, 0
        while name in self.arrays or name in self._reserved:
            n += 1
            name = f"{base}#{n}"
        self.arrays[name] = np.asarray(array).astype(native, order="C", copy=False)
        return name


# ----------------------------------------------------------------------------- decoding

class _Decoder:
    """Rebuilds the tree from the parsed JSON; raises ValueError for anything malformed."""

    def __init__(self, names: set[str], get_array: Callable[[str], np.ndarray]) -> None:
        self.unused = set(names)
        self._get_array = get_array

    def decode(self, node: Any, keys: tuple) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, (*keys, i)) for i, v in enumerate(node)]
        if isinstance(node, dict) and len(node) == 1:
            [(tag, body)] = node.items()
            if tag == "tuple" and isinstance(body, list):
                return tuple(self.decode(v, (*keys, i)) for i, v in enumerate(body))
            if tag == "dict" and isinstance(body, list):
                return self._decode_dict(body, keys)
            if tag == "array" and isinstance(body, str):
                if body not in self.unused:
                    raise ValueError(f"{_where(keys)} refers to array {body!r}, which the file "
                                     "does not hold (or which is referred to twice)")
                self.unused.remove(body)
                return self._get_array(body)
            if tag == "float" and body in _NONFINITE:
                return _NONFINITE[body]
        raise ValueError(f"{_where(keys)} is a malformed node: {json.dumps(node)[:80]}")

    def _decode_dict(self, pairs: list, keys: tuple) -> dict:
        out: dict = {}
        for pair in pairs:
            ok = isinstance(pair, list) and len(pair) == 2
            if not ok or isinstance(pair[0], bool) or not isinstance(pair[0], (str, int)):
                raise ValueError(f"{_where(keys)}: a dict entry must be [str or int key, value], "
                                 f"got {json.dumps(pair)[:80]}")
            if pair[0] in out:
                raise ValueError(f"{_where(keys)}: duplicate key {pair[0]!r}")
            out[pair[0]] = self.decode(pair[1], (*keys, pair[0]))
        return out


def _reject_constant(token: str) -> None:
    raise ValueError(f"the structure JSON contains {token}, which is not JSON")


def _reject_duplicates(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("the structure JSON has an object with a duplicate key")
    return out


def _decode(structure: str, names: set[str], get_array: Callable[[str], np.ndarray]) -> Any:
    """Parse the structure JSON and rebuild the tree, reading each array with ``get_array``."""
    try:
        doc = json.loads(structure, parse_constant=_reject_constant,
                         object_pairs_hook=_reject_duplicates)
    except RecursionError:
        raise ValueError("the structure JSON is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"the structure is not valid JSON ({exc})") from exc
    if not (isinstance(doc, dict) and doc.get("format") == _FORMAT and "root" in doc):
        raise ValueError(f"the structure JSON is not a {_FORMAT!r} document")
    if doc.get("version") != _VERSION:
        raise ValueError(f"unsupported version {doc.get('version')!r} (this reader supports "
                         f"{_VERSION})")
    decoder = _Decoder(names, get_array)
    try:
        root = decoder.decode(doc["root"], ())
    except RecursionError:
        raise ValueError("the structure is nested too deeply") from None
    if decoder.unused:
        raise ValueError(f"the file holds arrays the structure does not mention: "
                         f"{sorted(decoder.unused)[:5]}")
    return root


def _checked(array: Any, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype not in _DTYPES:
        kind = getattr(array, "dtype", type(array).__name__)
        raise ValueError(f"array {name!r} has unsupported type {kind}; expected one of "
                         f"{_DTYPE_NAMES}")
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = np.array(array, order="C")
    return array


# ----------------------------------------------------------------------------- .npz

def _write_npz(f: IO[bytes], arrays: dict[str, np.ndarray], structure: str) -> None:
    members = {_NPZ_STRUCTURE: np.frombuffer(structure.encode("utf-8"), dtype=np.uint8)}
    members.update(arrays)
    np.savez(f, allow_pickle=False, **members)


def _describe_non_zip(head: bytes) -> str:
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, not an .npz archive"
    if head[:1] == b"\x80":
        return "it looks like a pickle, which is never loaded"
    if not head:
        return "it is empty"
    return "it is not a zip archive"


def _read_npy(zf: zipfile.ZipFile, member: str) -> np.ndarray:
    """Read one ``.npy`` member after checking its header against the member's size."""
    info = zf.getinfo(member)
    # the declared size must be one the stored bytes can hold: deflate expands at most ~1032:1,
    # and a forged size would otherwise be allocated before the short data is noticed
    limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else (
        1032 * info.compress_size + 1024)
    if info.file_size > limit:
        raise ValueError(f"member {member!r} declares {info.file_size} bytes but its "
                         f"{info.compress_size} stored bytes cannot hold them: a corrupt or "
                         "forged archive")
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"member {member!r} has unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError(f"member {member!r} holds pickled Python objects, which are never "
                             "loaded")
        size = fp.tell() + math.prod(shape) * dtype.itemsize
        if size != info.file_size:
            raise ValueError(f"member {member!r} declares shape {shape} of {dtype} ({size} bytes "
                             f"with its header) but holds {info.file_size} bytes")
        fp.seek(0)
        try:
            arr = np.lib.format.read_array(fp, allow_pickle=False)
        except MemoryError:
            raise ValueError(f"member {member!r} declares shape {shape} of {dtype}: more "
                             "memory than this machine can give") from None
        return _checked(arr, member)


def _load_npz(path: str) -> Any:
    with open(path, "rb") as f:
        head = f.read(6)
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise ValueError(f"{path}: not an .npz file: {_describe_non_zip(head)}")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                members = zf.namelist()
                if len(set(members)) != len(members):
                    raise ValueError("the archive has duplicate member names")
                structure_member = _NPZ_STRUCTURE + ".npy"
                if structure_member not in members:
                    raise ValueError(f"no {_NPZ_STRUCTURE!r} member: not written by "
                                     "tinygrad_nn.save")
                raw = _read_npy(zf, structure_member)
                if raw.dtype != np.uint8 or raw.ndim != 1:
                    raise ValueError(f"member {structure_member!r} is not a 1-d uint8 array")
                if not all(m.endswith(".npy") for m in members):
                    raise ValueError("the archive has members that are not .npy arrays")
                names = {m[:-4] for m in members if m != structure_member}
                return _decode(raw.tobytes().decode("utf-8"), names,
                               lambda name: _read_npy(zf, name + ".npy"))
        except (ValueError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError,
                OverflowError, OSError, RuntimeError) as exc:  # (OSError: a seek past the end
            # from damaged offsets; RuntimeError: zipfile's "encrypted" from a damaged flag)
            raise ValueError(f"{path}: not a valid tinygrad_nn .npz file: {exc}") from exc


# ----------------------------------------------------------------------------- .safetensors

def _import_safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as exc:
        raise ImportError(
            ".safetensors files need the safetensors package: pip install safetensors "
            "(or pip install 'tinygrad_nn[safetensors]'); .npz needs nothing but NumPy") from exc
    return safetensors


def _write_safetensors(f: IO[bytes], arrays: dict[str, np.ndarray], structure: str) -> None:
    safetensors = _import_safetensors()
    f.write(safetensors.numpy.save(arrays, metadata={_SAFETENSORS_KEY: structure}))


_SAFETENSORS_DTYPES = frozenset(
    ["BOOL", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "F16", "F32", "F64"])


def _safetensors_array(f: Any, name: str) -> np.ndarray:
    dtype = f.get_slice(name).get_dtype()
    if dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(f"array {name!r} has unsupported safetensors dtype {dtype}; expected one "
                         f"of {_DTYPE_NAMES}")
    return _checked(f.get_tensor(name), name)


def _load_safetensors(path: str) -> Any:
    safetensors = _import_safetensors()
    with open(path, "rb"):  # the usual FileNotFoundError / IsADirectoryError, with the path
        pass
    try:
        with safetensors.safe_open(path, framework="np") as f:
            structure = (f.metadata() or {}).get(_SAFETENSORS_KEY)
            if structure is None:
                raise ValueError(f"no {_SAFETENSORS_KEY!r} structure in the metadata: not "
                                 "written by tinygrad_nn.save")
            return _decode(structure, set(f.keys()), lambda name: _safetensors_array(f, name))
    except (ValueError, TypeError, safetensors.SafetensorError) as exc:
        raise ValueError(f"{path}: not a valid tinygrad_nn .safetensors file: {exc}") from exc


# ----------------------------------------------------------------------------- files

_WRITERS: dict[str, Callable[[IO[bytes], dict[str, np.ndarray], str], None]] = {
    ".npz": _write_npz,
    ".safetensors": _write_safetensors,
}


def _suffix(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{path!r}: unsupported file suffix {suffix!r}; the supported suffixes "
                         f"are {', '.join(SUPPORTED_SUFFIXES)}")
    return suffix


def _new_file_mode(path: str) -> int:
    """The permission bits a plain ``open(path, 'w')`` would give (mkstemp's are 0o600)."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write via ``write(f)`` to a temp file beside ``path``, fsync, and ``os.replace`` it."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot save: no directory {directory!r}", path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
