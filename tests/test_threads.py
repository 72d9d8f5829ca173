"""The one thread setting: TINYRRN_THREADS / set_threads limit the BLAS pool."""
import pytest
import threadpoolctl

from tinyrrn import threads


def blas_threads():
    return {pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}


def test_set_threads_limits_blas_and_env_sets_the_default(monkeypatch):
    try:
        assert threads.set_threads(1) == 1 and threads.get_threads() == 1
        assert blas_threads() == {1}
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
