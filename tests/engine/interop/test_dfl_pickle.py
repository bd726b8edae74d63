"""The restricted unpickler: numpy's own pickles load in every protocol; nothing else runs."""

import pickle

import numpy as np
import pytest

from engine.interop.dfl_pickle import UnsafePickleError, safe_load_file, safe_loads
from tests.engine.interop.dfl_fixture import Sentinel, UnknownClass

ARRAYS = [np.arange(6, dtype=np.float32).reshape(2, 3), np.asfortranarray(np.ones((2, 3))),
          np.arange(5)[::2], np.zeros((0, 3), np.uint8), np.array(["ab", "c"]),
          np.zeros(2, dtype=[("a", "f4"), ("b", "i2", (2,))]), np.array(2.5, np.float16),
          np.array([b"xy"])]
SCALARS = [np.float64(1.25), np.float32(-3.5), np.int64(7), np.uint8(3), np.bool_(True)]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_dtypes_and_scalars_load_in_protocols_2_to_5(protocol):
    for a in ARRAYS:
        got = safe_loads(pickle.dumps(a, protocol=protocol), "t")
        assert type(got) is np.ndarray and got.dtype == a.dtype and got.shape == a.shape
        assert np.array_equal(got, a)
    for s in SCALARS:
        got = safe_loads(pickle.dumps(s, protocol=protocol), "t")
        assert type(got) is type(s) and got == s
    assert safe_loads(pickle.dumps(np.dtype("<f4"), protocol=protocol), "t") == np.dtype("<f4")


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_plain_containers_round_trip(protocol):
    data = {"a": [1, (2.5, "x")], "b": {1, 2}, "c": frozenset([3]), "d": bytearray(b"q"),
            "e": b"bytes", "f": b"", "g": None, "h": True, "i": 1 + 2j, 10: -(2 ** 70)}
    assert safe_loads(pickle.dumps(data, protocol=protocol), "t") == data


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_os_system_reducer_is_refused_by_name_and_never_runs(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    payload = pickle.dumps({"landmarks": [1, 2], "x": Sentinel(sentinel)}, protocol=protocol)
    with pytest.raises(UnsafePickleError) as err:
        safe_loads(payload, "face.jpg")
    assert "system" in str(err.value) and "face.jpg" in str(err.value)
    assert "\n" not in str(err.value)
    assert not sentinel.exists()


def test_unknown_class_is_refused_by_name():
    with pytest.raises(UnsafePickleError, match="dfl_fixture.UnknownClass"):
        safe_loads(pickle.dumps([UnknownClass()]), "weights.npy")


def test_object_arrays_and_subclasses_are_refused():
    with pytest.raises(UnsafePickleError, match="object"):
        safe_loads(pickle.dumps(np.array([1, "a"], dtype=object)), "t")
    with pytest.raises(UnsafePickleError, match="numpy.ma"):
        safe_loads(pickle.dumps(np.ma.array([1, 2])), "t")


def test_admitted_callables_refuse_allocation_from_a_number():
    # bytearray(10**10) and ndarray((10**6, 10**6)) would allocate from a few bytes of stream
    huge_bytearray = b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\xe4\x0bT\x02\x85R."
    with pytest.raises(UnsafePickleError, match="bytearray from int"):
        safe_loads(huge_bytearray, "t")
    ndarray_call = b"\x80\x02cnumpy\nndarray\nJ@B\x0f\x00J@B\x0f\x00\x86\x85R."
    with pytest.raises(UnsafePickleError, match="numpy.ndarray directly"):
        safe_loads(ndarray_call, "t")


def test_oversized_payload_is_refused_unread(tmp_path):
    sentinel = tmp_path / "pwned"
    payload = pickle.dumps([np.zeros(4000), Sentinel(sentinel)])
    with pytest.raises(UnsafePickleError, match="above the 1,000-byte limit"):
        safe_loads(payload, "t", max_bytes=1000)
    path = tmp_path / "big.npy"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="refused unread"):
        safe_load_file(path, max_bytes=1000)
    assert not sentinel.exists()


def test_truncated_and_shared_reference_streams():
    with pytest.raises(UnsafePickleError, match="not a readable pickle"):
        safe_loads(pickle.dumps({"a": np.ones(10)})[:-7], "t")
    nested: list = []
    for _ in range(60):  # 2**60 paths through shared lists: the check visits each list once
        nested = [nested, nested]
    assert len(safe_loads(pickle.dumps(nested), "t")) == 2
