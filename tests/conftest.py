"""Strict numerics for every test: float64, strict dtype promotion, rank-promotion
errors, no network, cheap compiles. Flags are restored after the session."""

import os
import socket
from importlib.metadata import version

# Test programs are small and compiled once: XLA's optimising passes cost more CPU
# than they save (about 30% of the suite's time), and XLA:CPU's MLIR fusion emitters
# take most of the rest of the compile time (half of test_lanczos.py and test_critical.py
# together); the tests pass either way. The emitter flag is used from jaxlib 0.7 on (an
# unknown flag would abort XLA).
_FLAGS = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
          " --xla_cpu_multi_thread_eigen=false")
if tuple(int(p) for p in version("jaxlib").split(".")[:2]) >= (0, 7):
    _FLAGS += " --xla_cpu_use_fusion_emitters=false"
os.environ.setdefault("XLA_FLAGS", _FLAGS)

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def strict_jax():
    saved = {
        name: getattr(jax.config, name)
        for name in ("jax_enable_x64", "jax_numpy_rank_promotion", "jax_numpy_dtype_promotion")
    }
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


class NetworkAccessError(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def guard(*args, **kwargs):
        raise NetworkAccessError("a test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)


@pytest.fixture
def key(request):
    """A fresh PRNG key per test, derived from the test's name (reproducible)."""
    import zlib

    return jax.random.key(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(scope="module", autouse=True)
def release_compiled_programs():
    """Drop each test file's compiled programs when it ends: a worker runs many files,
    and their executables would otherwise stay in memory to the end of the session."""
    yield
    jax.clear_caches()
    import gc

    gc.collect()
