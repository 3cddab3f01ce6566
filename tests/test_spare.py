"""The compiled executor reuses the memory of finished runs' arrays (executors/compiled/spare.py):
a block comes back only when no array uses it, a reused block is zeroed when zeros are asked
for, idle blocks stay under the limit, and a run's Result is never overwritten by a later run."""
from __future__ import annotations

import gc

import numpy as np
import pytest

from sheetopt.executors.compiled.spare import Spares


def test_a_block_in_use_by_any_view_is_not_handed_out_again():
    spares = Spares(limit=1 << 20)
    first = spares.take(8192, zeroed=True)
    view = first[64:64 + 8 * 100].view(np.float64).reshape(10, 10).T[2:5]
    view[...] = 7.0
    del first
    gc.collect()
    second = spares.take(8192, zeroed=True)
    second[...] = 1
    assert np.all(view == 7.0)
    assert not np.shares_memory(second, view)
    del view
    gc.collect()
    assert len(spares.idle()) == 1


def test_a_block_comes_back_zeroed_when_zeros_are_asked_for():
    spares = Spares(limit=1 << 20)
    first = spares.take(8192, zeroed=False)
    address = first.ctypes.data
    first[...] = 255
    del first
    again = spares.take(8000, zeroed=True)
    assert again.ctypes.data == address  # the same memory, reused
    assert len(again) == 8000 and not again.any()
    del again
    raw = spares.take(8000, zeroed=False)
    assert raw.ctypes.data == address and len(raw) == 8000


def test_a_much_larger_block_is_not_spent_on_a_small_request():
    spares = Spares(limit=1 << 20)
    big = spares.take(100_000, zeroed=False)
    del big
    small = spares.take(1000, zeroed=False)
    assert len(spares.idle()) == 1 and len(small) == 1000


def test_idle_blocks_stay_under_the_limit_the_oldest_given_back_dropped_first():
    spares = Spares(limit=3 * 4096)
    arrays = [spares.take(4096, zeroed=False) for _ in range(5)]
    addresses = [a.ctypes.data for a in arrays]
    for _ in range(5):
        arrays.pop(0)  # given back in the order taken
    idle = spares.idle()
    assert sum(block.nbytes for block in idle) == 3 * 4096
    assert [b.ctypes.data for b in idle] == addresses[-3:]


@pytest.mark.skipif(not __import__("sheetopt.executors.compiled", fromlist=["HAVE_NUMBA"])
                    .HAVE_NUMBA, reason="numba is not installed")
def test_a_later_run_never_overwrites_an_earlier_result():
    from sheetopt.executors import compiled
    from sheetopt.spec import load
    from sheetopt.sweeps.sweep import start_arrays

    spec = load("lesson5")
    sheet = spec.sheet("adam")
    results, copies = [], []
    for scale in (1.0, 0.5, 2.0):
        hp, params, state, plan = start_arrays(spec, sheet, {"lr": np.geomspace(1e-3, scale, 500)},
                                               executor="numpy")
        result = compiled.simulate(spec, sheet, hp, params, state, plan, summary=True)
        results.append(result)
        copies.append((result.params.copy(), result.epoch_sum_err2.copy(),
                       {s: v.copy() for s, v in result.state.items()}))
        del result
        gc.collect()
    for result, (params, sums, state) in zip(results, copies):
        assert np.array_equal(result.params, params)
        assert np.array_equal(result.epoch_sum_err2, sums)
        assert all(np.array_equal(result.state[s], v) for s, v in state.items())
