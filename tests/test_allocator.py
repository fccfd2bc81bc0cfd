"""glibc's trim threshold relaxed per chunk of many fits (fitglme/allocator.py, docs/many_fits.md).

A recording stand-in for libc checks the calls (raise on entry, restore the started value and trim on
leaving; once for overlapping blocks; nothing without a low MALLOC_TRIM_THRESHOLD_); a child process
started with Dask's setting checks with the real glibc that the replicates stay identical.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from fitglme import allocator, fitglme, load_example, statset

ROOT = Path(__file__).resolve().parents[1]


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def fake(monkeypatch):
    lib = FakeLibc()
    monkeypatch.setitem(allocator._STATE, "libc", lib)
    monkeypatch.setitem(allocator._STATE, "loaded", True)
    return lib


RAISE = ("mallopt", -1, allocator.CHUNK_TRIM)


def test_raised_inside_restored_and_trimmed_after(fake, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with allocator.relaxed_trim():
        assert fake.calls == [RAISE]
    assert fake.calls == [RAISE, ("mallopt", -1, 65536), ("malloc_trim", 0)]


def test_restored_after_an_error(fake, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    with pytest.raises(ZeroDivisionError):
        with allocator.relaxed_trim():
            1 / 0
    assert fake.calls == [RAISE, ("mallopt", -1, 0), ("malloc_trim", 0)]
    assert allocator._STATE["count"] == 0


def test_overlapping_blocks_share_one_setting(fake, monkeypatch):
    """Nested, and in two threads: raised by the first to enter, restored by the last to leave."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    inside, release = threading.Event(), threading.Event()

    def other():
        with allocator.relaxed_trim():
            inside.set()
            release.wait(10)

    with allocator.relaxed_trim():
        with allocator.relaxed_trim():
            th = threading.Thread(target=other)
            th.start()
            assert inside.wait(10)
        assert fake.calls == [RAISE]
        release.set()
        th.join(10)
        assert fake.calls == [RAISE]  # (this block still runs)
    assert fake.calls == [RAISE, ("mallopt", -1, 65536), ("malloc_trim", 0)]


@pytest.mark.parametrize("value", [None, str(allocator.CHUNK_TRIM), str(2**40), "64k", "-5"])
def test_untouched_without_a_low_started_threshold(fake, monkeypatch, value):
    """glibc's adaptive default (no variable), a threshold already high, or one we do not read."""
    if value is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", value)
    with allocator.relaxed_trim():
        pass
    assert fake.calls == []


def test_every_chunk_runs_relaxed(fake, monkeypatch):
    """The runner wraps each chunk (here four serial chunks of two replicates)."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(load_example(), "defects ~ 1 + newprocess + (1|factory)", "Distribution", "Poisson",
                       "FitMethod", "Laplace")
        glme.parametricBootstrap(8, "Seed", 5, "Options", statset("ChunkSize", 2))
    assert fake.calls == [RAISE, ("mallopt", -1, 65536), ("malloc_trim", 0)] * 4


_CHILD = """
import sys, warnings
sys.path.insert(0, sys.argv[1])
from fitglme import fitglme, load_example, statset
from fitglme import allocator
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    glme = fitglme(load_example(), "defects ~ 1 + newprocess + (1|factory)", "Distribution", "Poisson",
                   "FitMethod", "Laplace")
    bs = glme.parametricBootstrap(6, "Seed", 9, "Options", statset("ChunkSize", 2))
assert allocator._libc() is not None and allocator._started_threshold() == 65536
sys.stdout.write(repr(bs.Replicates.to_dict("list")))  # (repr of a float: exact)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_same_replicates_in_a_process_started_like_a_dask_worker():
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT)], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(load_example(), "defects ~ 1 + newprocess + (1|factory)", "Distribution", "Poisson",
                       "FitMethod", "Laplace")
        here = glme.parametricBootstrap(6, "Seed", 9).Replicates
    assert out == repr(here.to_dict("list"))
