"""The one thread setting (TINYRRN_THREADS / set_threads) and the pool that splits work by rows."""
import threading
import warnings

import numpy
import pytest
import threadpoolctl

import strict_xp
from tinyrrn import threads


def blas_threads():
    return {pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def two_threads(monkeypatch):
    """Two threads, and block sizes small enough that small test arrays are split."""
    monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", 8)
    monkeypatch.setattr(threads, "MIN_BLOCK_FLOPS", 64)
    threads.set_threads(2)
    yield
    threads.set_threads()


def test_set_threads_sizes_the_pool_keeps_blas_at_one_thread_and_env_sets_the_default(monkeypatch):
    try:
        assert threads.set_threads(2) == 2 and threads.get_threads() == 2
        assert blas_threads() == {1}  # tinyrrn splits products itself, one BLAS thread per block
        assert threads.set_threads(1) == 1 and threads._helpers is None
        monkeypatch.setenv("TINYRRN_THREADS", "1")
        assert threads.set_threads() == 1
        monkeypatch.delenv("TINYRRN_THREADS")
        assert threads.set_threads() == threads.available_cores()
    finally:
        threads.set_threads()


@pytest.mark.parametrize("text", ["0", "two", "-1"])
def test_a_bad_thread_setting_is_refused_by_name(monkeypatch, text):
    monkeypatch.setenv("TINYRRN_THREADS", text)
    with pytest.raises(ValueError, match="TINYRRN_THREADS"):
        threads.set_threads()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_split_rows_equals_the_unsplit_computation(two_threads, rng, dtype):
    x = rng.standard_normal((37, 5, 3)).astype(dtype)
    out = numpy.empty_like(x)

    def scale_relu(x, out):
        numpy.maximum(x, 0, out=out)
        out *= 3
        return x.sum(axis=0)

    partial_sums = threads.split_rows(scale_relu, x, out)
    assert len(partial_sums) > 1
    numpy.testing.assert_array_equal(out, numpy.maximum(x, 0) * 3)  # element-wise: bit for bit
    tolerance = 1e-12 if dtype == "float64" else 1e-5  # sums in another order: rounding only
    numpy.testing.assert_allclose(sum(partial_sums), x.sum(axis=0), rtol=tolerance, atol=tolerance)


def test_shared_work_is_cut_into_a_multiple_of_the_thread_count_larger_blocks_first(two_threads):
    """3 blocks on 2 threads take as long as 4 (one thread waits for the other's last): work worth sharing
    is cut into 2, 4, ... blocks, at most one per row, whose sizes differ by a row, the larger taken
    first; small work stays one block, and partial sums keep blocks that do not depend on the threads."""
    def block_rows(x):
        return [len(block) for block in threads.split_rows(lambda block: block, x, min_block=8)]

    def summed_rows(x):
        rows = []
        threads.sum_rows(lambda block: rows.append(len(block)) or 0, x)
        return sorted(rows, reverse=True)
    assert block_rows(numpy.zeros((8, 1))) == [4, 4]        # 8 elements: one block's worth, on 2 threads
    assert block_rows(numpy.zeros((9, 3))) == [3, 2, 2, 2]  # 27 elements: 3 blocks' worth, 4 blocks
    assert block_rows(numpy.zeros((3, 20))) == [1, 1, 1]     # never more blocks than rows
    assert block_rows(numpy.zeros((7, 1))) == [7]            # below one block: not shared
    assert summed_rows(numpy.zeros((8, 6))) == [3, 3, 2]     # 48 elements in blocks of 16 (MIN_BLOCK_ELEMENTS * 2)
    threads.set_threads(1)
    assert block_rows(numpy.zeros((8, 3))) == [3, 3, 2]      # one thread: blocks of the size asked
    assert summed_rows(numpy.zeros((8, 6))) == [3, 3, 2]


def scale_shift_relu(x, scale, shift, out):  # an element-wise chain as tinyrrn writes them
    numpy.multiply(x, scale, out=out)
    out += shift
    numpy.maximum(out, 0, out=out)


def test_an_element_wise_chain_runs_as_written_on_blocks_with_whole_vectors_and_numbers(two_threads, rng,
                                                                                        monkeypatch):
    monkeypatch.setattr(threads, "MIN_BLOCK_ELEMENTS", 7)
    monkeypatch.setattr(threads, "UPDATE_BLOCK_ELEMENTS", 10)
    threads.fused.cache_clear()
    x, scale = rng.standard_normal((37, 6)), rng.standard_normal(6)  # scale broadcasts along the rows
    out = threads.elementwise(scale_shift_relu, x, scale, 0.5)
    numpy.testing.assert_array_equal(out, numpy.maximum(x * scale + 0.5, 0))  # bit for bit
    assert threads.fused.cache_info().currsize == 0  # NumPy arrays: nothing compiled
    p, g = rng.standard_normal((37, 6)), rng.standard_normal((37, 6))
    expected = p - 0.1 * g

    def step(p, g, lr):
        p -= lr * g
    threads.update_in_place(step, [(p, g)], 0.1)
    numpy.testing.assert_array_equal(p, expected)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(40, 7, 3), (3, 7, 40), (1, 5, 1)])
def test_matmul_equals_the_unsplit_product(two_threads, rng, dtype, shape):
    m, k, n = shape
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    numpy.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=tolerance, atol=tolerance)
    out = numpy.empty((m, n), dtype)
    assert threads.matmul(a.T.copy().T, b, out=out) is out  # F-ordered operand, given output
    numpy.testing.assert_allclose(out, a @ b, rtol=tolerance, atol=tolerance)


def test_matmul_of_stacks_equals_the_unsplit_product(two_threads, rng):
    a, b = rng.standard_normal((3, 30, 4)), rng.standard_normal((3, 4, 20))
    numpy.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)


def test_matmul_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="matmul"):
        threads.matmul(numpy.ones((2, 3)), numpy.ones((2, 3)))
    with pytest.raises(ValueError, match="matmul"):
        threads.matmul(numpy.ones((2, 2, 3)), numpy.ones((3, 3, 2)))


def test_the_caller_never_waits_for_a_helper_that_has_not_started(two_threads):
    """With the only helper busy elsewhere, the calling thread takes every task itself."""
    release = threading.Event()
    blocker = threads._helpers.submit(release.wait)
    try:
        ran_in = threads.run_tasks([lambda i=i: (i, threading.current_thread()) for i in range(5)])
        assert [i for i, _ in ran_in] == list(range(5))
        assert {thread for _, thread in ran_in} == {threading.current_thread()}
    finally:
        release.set()
        blocker.result()


def test_a_task_error_is_raised_and_nested_splits_run_inline(two_threads):
    def nested():
        return sum(threads.run_tasks([lambda: 1, lambda: 2]))  # inline inside a helper
    assert threads.run_tasks([nested] * 6) == [3] * 6

    def fail():
        raise KeyError("task failed")
    with pytest.raises(KeyError, match="task failed"):
        threads.run_tasks([lambda: 1, fail, lambda: 3])


def test_on_device_arrays_the_work_is_one_call(two_threads, rng):
    """On CuPy (here the strict stand-in) nothing is split: one call on the whole arrays."""
    a = strict_xp.asarray(rng.standard_normal((40, 6)))
    b = strict_xp.asarray(rng.standard_normal((6, 30)))
    calls = []
    assert len(threads.split_rows(lambda x: calls.append(x.shape), a)) == 1 and calls == [(40, 6)]
    product = threads.matmul(a, b)
    assert isinstance(product, strict_xp.StrictArray)
    numpy.testing.assert_allclose(product.get(), a.get() @ b.get())


def test_helper_threads_run_under_the_callers_numpy_error_state(two_threads):
    """NumPy's error state is per thread: a quiet op's blocks (tinyrrn.functional._util.quiet) warned of inf - inf
    on the helpers, where PyTorch gives NaN silently."""
    started = threading.Barrier(2, timeout=10)

    def task():  # both tasks at once: one on the caller, one on the helper
        started.wait()
        return numpy.subtract(numpy.inf, numpy.inf)

    with numpy.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert numpy.isnan(threads.run_tasks([task, task])).all()
