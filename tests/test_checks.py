"""The shared argument checks: each bad input gets an error that names the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import _checks, critical, curvature, lanczos, stochtrace


def test_ints_floats_and_choices_name_the_field():
    assert _checks.check_int("num_iters", np.int64(3), minimum=1) == 3
    for bad in (True, 2.0, "3"):
        with pytest.raises(ValueError, match="num_iters: expected an integer"):
            _checks.check_int("num_iters", bad)
    with pytest.raises(ValueError, match="num_iters: must be at least 2"):
        _checks.check_int("num_iters", 1, minimum=2)
    with pytest.raises(ValueError, match="tol: must be finite"):
        _checks.check_float("tol", float("nan"))
    with pytest.raises(ValueError, match="sigma: must be positive"):
        _checks.check_float("sigma", 0.0, positive=True)
    with pytest.raises(ValueError, match="which: unknown 'top'"):
        _checks.check_choice("which", "top", ("both", "largest"))


def test_keys_typed_raw_and_traced_pass_and_an_int_is_refused():
    typed, raw = jax.random.key(0), jax.random.PRNGKey(0)
    assert _checks.check_key(typed) is typed and _checks.check_key(raw) is raw
    jax.vmap(_checks.check_key)(jax.random.split(typed, 3))  # tracers under vmap pass
    for bad in (0, jnp.zeros(2), np.uint32(7)):
        with pytest.raises(TypeError, match="key: expected a PRNG key"):
            _checks.check_key(bad)
    # the same check at every boundary that takes a key
    loss = lambda p, b: jnp.sum(p**2)
    with pytest.raises(TypeError, match="key: expected a PRNG key"):
        critical.classify(loss, jnp.ones(2), None, key=0)
    with pytest.raises(TypeError, match="key: expected a PRNG key"):
        stochtrace.sample_probes(1, num_probes=2, size=3)


def test_params_must_be_floating_and_the_loss_a_scalar():
    """Integer parameters and a loss returning a vector used to fail deep inside JAX."""
    loss = lambda p, b: jnp.sum(p["w"].astype(jnp.float64) ** 2)
    with pytest.raises(TypeError, match=r"params: .*\['w'\] has dtype int"):
        curvature.hessian_operator(loss, {"w": jnp.arange(3)}, None)
    vector_loss = lambda p, b: p**2
    with pytest.raises(ValueError, match="loss: must return a floating-point scalar"):
        curvature.hessian_operator(vector_loss, jnp.ones(3), None)
    with pytest.raises(ValueError, match="loss: must return a floating-point scalar"):
        critical.classify(vector_loss, jnp.ones(3), None, key=jax.random.key(0))
    with pytest.raises(ValueError, match="loss: must return a floating-point scalar"):
        critical.find_critical_point(vector_loss, jnp.ones(3), None)


def test_empty_batch_is_refused_at_the_boundary():
    """An empty batch used to give eigenvalues [0, 0] with status ok, and "degenerate"."""
    loss = lambda p, b: jnp.mean((b @ p) ** 2)
    empty = jnp.zeros((0, 3))
    with pytest.raises(ValueError, match="batch: has no examples"):
        curvature.hessian_operator(loss, jnp.ones(3), empty)
    with pytest.raises(ValueError, match="batch: has no examples"):
        critical.classify(loss, jnp.ones(3), empty, key=jax.random.key(0))
    with pytest.raises(ValueError, match="batch: has no examples"):
        curvature.fisher_operator(loss, jnp.ones(3), empty)


def test_dtype_mismatch_is_an_error_not_a_downcast():
    """float64 parameters with a float32 start vector used to run silently in float32."""
    loss = lambda p, b: jnp.sum(b * p**4)
    op = curvature.hessian_operator(loss, jnp.ones(5), jnp.arange(1.0, 6.0))
    assert op.dtype == jnp.float64
    with pytest.raises(TypeError, match="v0: dtype float32 .*the operator's float64"):
        lanczos.extreme_eigs(num_iters=4)(op.matvec, jnp.ones(5, jnp.float32), *op.args)
    with pytest.raises(TypeError, match="v: dtype float32"):
        op(jnp.ones(5, jnp.float32))
    with pytest.raises(TypeError, match="dtype: probes of float32"):
        stochtrace.slq(num_iters=3, num_probes=2)(op.matvec, jax.random.key(0), *op.args,
                                                  size=5, dtype=jnp.float32)


def test_memory_check_uses_available_memory(monkeypatch):
    """The basis is refused against the memory available now (mocked), with both numbers."""
    monkeypatch.setattr(_checks, "available_memory", lambda device=None: 10_000)
    with pytest.raises(MemoryError, match=r"num_iters: 12 vectors of 200 float64 entries need "
                                          r"19200 bytes .* than the 10000 bytes"):
        lanczos.extreme_eigs(num_iters=8)(lambda v: v, jnp.ones(200))
    with pytest.raises(MemoryError, match="available now"):
        lanczos.tridiagonalize(num_iters=20)(lambda v: v, jnp.ones(200))
    monkeypatch.setattr(_checks, "available_memory", lambda device=None: 19_200)
    _checks.check_memory(12, 200, "float64")  # exactly what is available: accepted
    # the real figure is positive on this host
    assert _checks._meminfo_available() > 0
