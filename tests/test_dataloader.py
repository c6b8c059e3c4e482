"""Dataset / TensorDataset / DataLoader / default_collate against PyTorch's semantics.

Oracles: plain-Python slicing of the index sequence (batch boundaries), NumPy generators seeded
the same way (shuffling), and torch.utils.data itself where torch is installed.
"""

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn.data import DataLoader, Dataset, TensorDataset, default_collate


class Squares(Dataset):
    """A generic (non-Tensor) dataset: example i is (i, float(i*i)); counts __getitem__ calls."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __getitem__(self, i):
        self.calls += 1
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, float(i * i)

    def __len__(self):
        return self.n


def naive_batches(order, batch_size, drop_last):
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def first_column(loader):
    return [b[0].data.tolist() for b in loader]


@settings(max_examples=40)
@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), drop_last=st.booleans())
def test_batches_in_order_and_len(n, batch_size, drop_last):
    expected = naive_batches(list(range(n)), batch_size, drop_last)
    for dataset in (Squares(n), TensorDataset(tg.arange(n), tg.arange(n) * 0.5)):
        loader = DataLoader(dataset, batch_size=batch_size, drop_last=drop_last)
        assert len(loader) == len(expected)
        assert first_column(loader) == expected
        assert first_column(loader) == expected  # a second epoch is the same


@settings(max_examples=25)
@given(n=st.integers(0, 30), batch_size=st.integers(1, 8), drop_last=st.booleans())
def test_len_and_batch_sizes_match_torch(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    ours = DataLoader(Squares(n), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(Squares(n), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert first_column(ours) == [b[0].tolist() for b in theirs]


def test_shuffle_is_a_fresh_permutation_each_epoch():
    loader = DataLoader(Squares(50), batch_size=7, shuffle=True, generator=3)
    epochs = [sum(first_column(loader), []) for _ in range(3)]
    for e in epochs:
        assert sorted(e) == list(range(50))
    assert epochs[0] != epochs[1] != epochs[2]


def test_int_seed_reproduces_numpy_generator_stream():
    rng = np.random.default_rng(11)
    expected = [rng.permutation(20).tolist() for _ in range(2)]  # epoch 1, epoch 2
    loader = DataLoader(Squares(20), batch_size=20, shuffle=True, generator=11)
    assert [first_column(loader)[0] for _ in range(2)] == expected


def test_numpy_generator_is_used_and_advanced():
    gen = np.random.default_rng(5)
    loader = DataLoader(TensorDataset(tg.arange(15)), batch_size=4, shuffle=True, generator=gen)
    ref = np.random.default_rng(5)
    for _ in range(2):
        expected = naive_batches(ref.permutation(15).tolist(), 4, False)
        assert first_column(loader) == expected
    assert gen.bit_generator.state == ref.bit_generator.state


def test_no_generator_draws_from_manual_seed_state_at_each_iter():
    loader = DataLoader(TensorDataset(tg.arange(12)), batch_size=12, shuffle=True)
    tg.manual_seed(123)
    a = first_column(loader)
    b = first_column(loader)
    tg.manual_seed(123)  # re-seeding after construction still takes effect
    assert first_column(loader) == a
    assert first_column(loader) == b
    assert a != b
    # manual_seed(s) sets the global generator to numpy.random.default_rng(s).
    assert a[0] == np.random.default_rng(123).permutation(12).tolist()


def test_permutation_is_drawn_at_iter_time():
    tg.manual_seed(0)
    it = iter(DataLoader(Squares(10), batch_size=10, shuffle=True))
    tg.manual_seed(99)  # must not affect the iterator created above
    assert next(it)[0].data.tolist() == np.random.default_rng(0).permutation(10).tolist()


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, 2.0, True, "4"])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        DataLoader(Squares(3), batch_size=batch_size)


def test_bad_options():
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        DataLoader(Squares(3), drop_last=1)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(Squares(3), batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_samples"):
        DataLoader(Squares(0), shuffle=True)
    for gen in ("seed", 1.5, True, np.random.RandomState(0)):
        with pytest.raises(TypeError, match="generator"):
            DataLoader(Squares(3), shuffle=True, generator=gen)


def test_empty_dataset_without_shuffle():
    loader = DataLoader(Squares(0), batch_size=3)
    assert len(loader) == 0 and list(loader) == []


def test_base_dataset_getitem_not_implemented():
    with pytest.raises(NotImplementedError):
        Dataset()[0]


# ----------------------------------------------------------------------------- TensorDataset

def test_tensor_dataset_indexing_and_len():
    x = tg.tensor(np.arange(12.0).reshape(4, 3))
    y = tg.tensor([3, 1, 4, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    assert xi.data.tolist() == [6.0, 7.0, 8.0] and yi.item() == 4
    with pytest.raises(AssertionError, match="Size mismatch"):
        TensorDataset(x, tg.tensor([1, 2, 3]))
    with pytest.raises(TypeError):
        TensorDataset([1, 2, 3])


def test_tensor_dataset_fast_path_indexes_whole_batches(monkeypatch):
    calls = []
    original = TensorDataset.__getitem__
    monkeypatch.setattr(TensorDataset, "__getitem__",
                        lambda self, i: calls.append(i) or original(self, i))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 5)).astype(np.float32)
    y = rng.integers(0, 10, 1000)
    loader = DataLoader(TensorDataset(tg.from_numpy(x), tg.from_numpy(y)), batch_size=64,
                        shuffle=True, generator=1)
    seen = []
    for xb, yb in loader:
        assert isinstance(xb, tg.Tensor) and isinstance(yb, tg.Tensor)
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape[1:] == (5,) and xb.shape[0] == yb.shape[0]
        seen.append((xb.data, yb.data))
    assert calls == []  # no per-example __getitem__
    xs = np.concatenate([s[0] for s in seen])
    ys = np.concatenate([s[1] for s in seen])
    order = np.random.default_rng(1).permutation(1000)
    np.testing.assert_array_equal(xs, x[order])
    np.testing.assert_array_equal(ys, y[order])


def test_tensor_dataset_batches_are_copies():
    x = np.zeros((6, 2), dtype=np.float32)
    xb, = next(iter(DataLoader(TensorDataset(tg.from_numpy(x)), batch_size=3)))
    xb.data[...] = 7
    assert not x.any()


def test_tensor_dataset_subclass_with_own_getitem_uses_it():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            return tuple(t[i] * 2 for t in self.tensors)

    batches = list(DataLoader(Doubled(tg.arange(5)), batch_size=2))
    assert [b[0].data.tolist() for b in batches] == [[0, 2], [4, 6], [8]]


def test_tensor_dataset_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10)
    ours = list(DataLoader(TensorDataset(tg.from_numpy(x), tg.from_numpy(y)), batch_size=4))
    theirs = list(torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert type(a) is type(b) is list
        for ta, tb in zip(a, b, strict=True):
            np.testing.assert_array_equal(ta.data, tb.numpy())
            assert str(ta.dtype) == str(tb.dtype).removeprefix("torch.")


def test_tensor_dataset_requires_grad_stays_in_graph():
    w = tg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    (wb,) = next(iter(DataLoader(TensorDataset(w), batch_size=2)))
    wb.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[1, 1], [1, 1], [0, 0]])


# ----------------------------------------------------------------------------- collate

Point = namedtuple("Point", "x y")

COLLATE_CASES = {
    "python floats": [1.0, 2.5, -3.0],
    "python ints": [1, 2, 3],
    "python bools": [True, False],
    "int then float": [2, 1.5],
    "numpy float32 scalars": [np.float32(1), np.float32(2)],
    "numpy int32 scalars": [np.int32(1), np.int32(2)],
    "float32 arrays": [np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)],
    "int64 arrays": [np.arange(3), np.arange(3) + 5],
    "0-d arrays": [np.array(1.5), np.array(2.5)],
    "tuples": [(1, 2.0), (3, 4.0)],
    "lists": [[1, 2], [3, 4]],
    "dicts": [{"a": 1, "b": np.zeros(2)}, {"a": 2, "b": np.ones(2)}],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [(np.ones(2, np.float32), {"k": [1, 2]}), (np.zeros(2, np.float32), {"k": [3, 4]})],
}


def to_plain(obj, torch):
    """Turn a collated batch (ours or torch's) into comparable Python data with dtype names."""
    if isinstance(obj, tg.Tensor):
        return ("tensor", str(obj.dtype), obj.data.tolist())
    if torch is not None and isinstance(obj, torch.Tensor):
        return ("tensor", str(obj.dtype).removeprefix("torch."), obj.numpy().tolist())
    if isinstance(obj, dict):
        return {k: to_plain(v, torch) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [to_plain(v, torch) for v in obj])
    return obj


@pytest.mark.parametrize("case", sorted(COLLATE_CASES))
def test_default_collate_matches_torch(case):
    torch = pytest.importorskip("torch")
    batch = COLLATE_CASES[case]
    ours = to_plain(default_collate(batch), torch)
    theirs = to_plain(torch.utils.data.default_collate(batch), torch)
    assert ours == theirs


def test_default_collate_documented_dtypes():
    # Independent of torch: PyTorch's documented default_collate conversions.
    assert default_collate([1.0, 2.0]).dtype == np.float64
    assert default_collate([1, 2]).dtype == np.int64
    x, y = default_collate([(np.ones(3, np.float32), 1), (np.zeros(3, np.float32), 2)])
    assert x.shape == (2, 3) and x.dtype == np.float32
    assert y.data.tolist() == [1, 2]
    assert default_collate(["a", "b"]) == ["a", "b"]
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.data.tolist() == [1, 3]


def test_default_collate_stacks_tensors_and_keeps_graph():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0])
    out = default_collate([a, b])
    assert out.shape == (2, 2) and out.requires_grad
    (out * tg.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert a.grad.data.tolist() == [1.0, 2.0]
    plain = default_collate([b, b])
    assert not plain.requires_grad and plain.data.tolist() == [[3.0, 4.0], [3.0, 4.0]]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([tg.zeros(2), tg.zeros(3)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_generic_dataset_batches_collate_like_torch():
    torch = pytest.importorskip("torch")
    ours = [to_plain(b, torch) for b in DataLoader(Squares(7), batch_size=3)]
    theirs = [to_plain(b, torch) for b in torch.utils.data.DataLoader(Squares(7), batch_size=3)]
    assert ours == theirs


def test_getitems_hook_receives_whole_batches():
    class Batched(Squares):
        def __init__(self, n):
            super().__init__(n)
            self.requests = []

        def __getitems__(self, indices):
            self.requests.append(list(indices))
            return [self[i] for i in indices]

    ds = Batched(5)
    batches = list(DataLoader(ds, batch_size=2))
    assert ds.requests == [[0, 1], [2, 3], [4]]
    assert [b[1].data.tolist() for b in batches] == [[0.0, 1.0], [4.0, 9.0], [16.0]]


def test_batch_size_none_yields_single_examples():
    out = list(DataLoader([np.arange(2), np.arange(2) + 1], batch_size=None))
    assert [o.data.tolist() for o in out] == [[0, 1], [1, 2]]
    assert isinstance(out[0], tg.Tensor)
    assert list(DataLoader(Squares(3), batch_size=None)) == [[0, 0.0], [1, 1.0], [2, 4.0]]
    assert len(DataLoader(Squares(3), batch_size=None)) == 3


def test_custom_collate_fn():
    loader = DataLoader(Squares(5), batch_size=2, collate_fn=lambda items: [i for i, _ in items])
    assert list(loader) == [[0, 1], [2, 3], [4]]


def test_no_batching_applies_the_users_collate_fn_to_each_example():
    ds = TensorDataset(tg.tensor([1, 2, 3]))
    got = [b for b in DataLoader(ds, batch_size=None, collate_fn=lambda ex: ex[0] * 10)]
    assert [int(b.item()) for b in got] == [10, 20, 30]
    assert DataLoader(ds, batch_size=None).collate_fn is tg.data.default_convert


def test_a_tensor_dataset_with_its_own_getitems_is_asked_for_whole_batches():
    class Evens(TensorDataset):
        def __getitems__(self, indices):
            return [(self.tensors[0][2 * i],) for i in indices]

    ds = Evens(tg.arange(8.0))
    it = iter(DataLoader(ds, batch_size=2))
    batches = [next(it)[0].tolist() for _ in range(2)]
    assert batches == [[0.0, 2.0], [4.0, 6.0]]


@pytest.mark.parametrize("a, b, want", [
    (np.float32, np.int64, np.float32), (np.float16, np.int32, np.float16),
    (np.int8, np.uint8, np.int16), (np.int64, np.float32, np.float32)])
def test_collating_mixed_dtypes_promotes_as_pytorch(a, b, want):
    arrays = [np.ones(2, a), np.ones(2, b)]
    assert default_collate(arrays).dtype == want
    assert default_collate([tg.from_numpy(x) for x in arrays]).dtype == want
    assert default_collate([a(1), b(2)]).dtype == want
    assert default_collate([np.ones(2, a)] * 2).dtype == a  # one dtype: kept
