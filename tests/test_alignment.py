"""Permutation alignment: invariance of the function, distances with known answers,
and weight matching against brute force."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import alignment, models


def _net(key, hidden=(6, 5), bias=True):
    model = (
        models.mlp(4, hidden, 3, activation="tanh") if bias else models.deep_linear(4, hidden, 3)
    )
    params = model.init(key)
    if bias:  # non-zero biases so that they take part in the matching
        keys = jax.random.split(jax.random.fold_in(key, 1), len(params))
        params = [
            {"w": layer["w"], "b": 0.3 * jax.random.normal(k, layer["b"].shape)}
            for k, layer in zip(keys, params, strict=True)
        ]
    return model, params


@pytest.mark.parametrize("bias", [True, pytest.param(False, marks=pytest.mark.slow)])
@pytest.mark.parametrize("hidden", [pytest.param((6,), marks=pytest.mark.slow), (6, 5),
                                    pytest.param((5, 7, 4), marks=pytest.mark.slow)])
def test_permutation_leaves_function_unchanged(key, bias, hidden):
    k_net, k_perm, k_x = jax.random.split(key, 3)
    model, params = _net(k_net, hidden, bias)
    perms = alignment.random_permutations(params, key=k_perm)
    assert any(not np.array_equal(p, np.arange(len(p))) for p in perms)
    x = jax.random.normal(k_x, (11, 4))
    permuted = alignment.apply_permutation(params, perms)
    # same function up to the order of floating-point sums (float64)
    np.testing.assert_allclose(
        model.apply(permuted, x), model.apply(params, x), rtol=1e-13, atol=1e-13
    )
    # jitted and vmapped over a batch of permutations give the same parameters
    jitted = jax.jit(alignment.apply_permutation)(params, perms)
    for u, v in zip(
        jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(permuted), strict=True
    ):
        np.testing.assert_array_equal(u, v)
    keys = jax.random.split(k_perm, 3)
    batch_perms = jax.vmap(lambda k: alignment.random_permutations(params, key=k))(keys)
    stacked = jax.vmap(alignment.apply_permutation, in_axes=(None, 0))(params, batch_perms)
    for i in range(3):
        one = alignment.apply_permutation(params, [p[i] for p in batch_perms])
        for u, v in zip(
            jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(stacked), strict=True
        ):
            np.testing.assert_array_equal(u, v[i])
        out = jax.vmap(model.apply, in_axes=(0, None))(stacked, x)[i]
        np.testing.assert_allclose(out, model.apply(params, x), rtol=1e-13, atol=1e-13)


def test_inverse_permutation_restores_params(key):
    _, params = _net(key)
    perms = alignment.random_permutations(params, key=jax.random.fold_in(key, 2))
    back = alignment.apply_permutation(
        alignment.apply_permutation(params, perms), [jnp.argsort(p) for p in perms]
    )
    for u, v in zip(
        jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(params), strict=True
    ):
        np.testing.assert_array_equal(u, v)


def test_relative_distance_closed_forms(key):
    _, a = _net(key)
    flat_a, unravel = ravel_pytree(a)
    assert float(alignment.relative_distance(a, a)) == 0.0
    # b = c a: |a - b| / sqrt(|a| |b|) = |1 - c| / sqrt(c)
    for c in (0.5, 2.0, 3.0):
        b = unravel(c * flat_a)
        np.testing.assert_allclose(
            alignment.relative_distance(a, b), abs(1 - c) / np.sqrt(c), rtol=1e-13
        )
    # orthogonal vectors of norms r and s: sqrt(r^2 + s^2) / sqrt(r s)
    u = jax.random.normal(key, flat_a.shape)
    v = jax.random.normal(jax.random.fold_in(key, 1), flat_a.shape)
    v = v - jnp.vdot(u, v) / jnp.vdot(u, u) * u
    v = 2.0 * v / jnp.linalg.norm(v) * jnp.linalg.norm(u)
    r, s = float(jnp.linalg.norm(u)), float(jnp.linalg.norm(v))
    expected = np.sqrt(r**2 + s**2) / np.sqrt(r * s)
    got = alignment.relative_distance(unravel(u), unravel(v))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # symmetric, scale-free, jitted and vmapped
    np.testing.assert_allclose(alignment.relative_distance(unravel(v), unravel(u)), got, rtol=1e-14)
    np.testing.assert_allclose(
        alignment.relative_distance(unravel(7 * u), unravel(7 * v)), got, rtol=1e-13
    )
    np.testing.assert_allclose(
        jax.jit(alignment.relative_distance)(unravel(u), unravel(v)), got, rtol=1e-14
    )
    stack = jnp.stack([u, v, flat_a])
    vm = jax.vmap(lambda x, y: alignment.relative_distance(unravel(x), unravel(y)))(
        stack, stack[::-1]
    )
    np.testing.assert_allclose(vm[0], alignment.relative_distance(unravel(u), a), rtol=1e-14)
    np.testing.assert_allclose(vm[1], 0.0, atol=0)


@pytest.mark.parametrize("hidden", [pytest.param((8,), marks=pytest.mark.slow),
                                    pytest.param((6, 5), marks=pytest.mark.slow), (7, 6, 5)])
def test_weight_matching_recovers_a_permuted_copy(key, hidden):
    # the forward start matches each layer's incoming weights given the previous
    # layer's permutation, which is exact for a relabelled copy: test it on many nets
    for i in range(8):
        k = jax.random.fold_in(key, i)
        _, a = _net(k, hidden)
        perms = alignment.random_permutations(a, key=jax.random.fold_in(k, 3))
        b = alignment.apply_permutation(a, perms)
        assert float(alignment.relative_distance(a, b)) > 0.2
        match = alignment.weight_matching(a, b, key=jax.random.fold_in(k, 4))
        assert match.converged
        assert float(alignment.relative_distance(a, match.params)) < 1e-14
        # the recovered permutations undo the applied ones
        for p, q in zip(perms, match.perms, strict=True):
            np.testing.assert_array_equal(np.asarray(p)[q], np.arange(len(p)))
        # objective is the inner product: |a - b'|^2 = |a|^2 + |b|^2 - 2 <a, b'>
        na = float(jnp.sum(ravel_pytree(a)[0] ** 2))
        np.testing.assert_allclose(2 * na - 2 * match.objective, 0.0, atol=1e-10 * na)


def test_weight_matching_one_hidden_layer_is_exact_against_brute_force(key):
    # one hidden layer: the assignment problem is the whole problem, so weight matching
    # must find the permutation of smallest distance among all 6! = 720.
    _, a = _net(key, (6,))
    _, b = _net(jax.random.fold_in(key, 9), (6,))
    best = min(
        float(alignment.relative_distance(a, alignment.apply_permutation(b, [jnp.asarray(p)])))
        for p in itertools.permutations(range(6))
    )
    match = alignment.weight_matching(a, b, key=key)
    got = float(alignment.relative_distance(a, match.params))
    np.testing.assert_allclose(got, best, rtol=1e-12)
    assert got < float(alignment.relative_distance(a, b)) + 1e-15


def test_weight_matching_two_layers_is_a_coordinate_optimum(key):
    # two hidden layers of width 4: brute force over 4! x 4! = 576 pairs; the result is
    # no worse than the identity and no single layer's permutation can improve it.
    _, a = _net(key, (4, 4))
    _, b = _net(jax.random.fold_in(key, 5), (4, 4))
    match = alignment.weight_matching(a, b, key=key)
    got = float(alignment.relative_distance(a, match.params))
    assert got <= float(alignment.relative_distance(a, b)) + 1e-15
    all_d = {}
    for p in itertools.permutations(range(4)):
        for q in itertools.permutations(range(4)):
            perms = [jnp.asarray(p), jnp.asarray(q)]
            all_d[(p, q)] = float(
                alignment.relative_distance(a, alignment.apply_permutation(b, perms))
            )
    p0, q0 = (tuple(int(i) for i in x) for x in match.perms)
    np.testing.assert_allclose(all_d[(p0, q0)], got, rtol=1e-13)
    for p in itertools.permutations(range(4)):
        assert all_d[(p, q0)] >= got - 1e-13
        assert all_d[(p0, p)] >= got - 1e-13
    assert got >= min(all_d.values()) - 1e-13


@pytest.mark.parametrize("start", ["forward", "identity"])
def test_weight_matching_never_increases_distance_and_is_deterministic(key, start):
    for i in range(5):
        _, a = _net(jax.random.fold_in(key, 2 * i), (10, 9))
        _, b = _net(jax.random.fold_in(key, 2 * i + 1), (10, 9))
        m1 = alignment.weight_matching(a, b, key=key, start=start)
        m2 = alignment.weight_matching(a, b, key=key, start=start)
        d = float(alignment.relative_distance(a, m1.params))
        # the reported objective is <a, b'>: |a - b'|^2 = |a|^2 + |b|^2 - 2 <a, b'>
        na = float(jnp.sum(ravel_pytree(a)[0] ** 2))
        nb = float(jnp.sum(ravel_pytree(b)[0] ** 2))
        np.testing.assert_allclose(d**2 * np.sqrt(na * nb), na + nb - 2 * m1.objective, rtol=1e-10)
        assert float(alignment.relative_distance(a, m1.params)) <= float(
            alignment.relative_distance(a, b)
        )
        for p, q in zip(m1.perms, m2.perms, strict=True):
            np.testing.assert_array_equal(p, q)


def test_bad_input_names_the_field(key):
    _, a = _net(key)
    with pytest.raises(ValueError, match="max_iters"):
        alignment.weight_matching(a, a, key=key, max_iters=0)
    with pytest.raises(ValueError, match="start"):
        alignment.weight_matching(a, a, key=key, start="random")
    _, other = _net(key, (6, 4))
    with pytest.raises(ValueError, match="params_b"):
        alignment.weight_matching(a, other, key=key)
    with pytest.raises(ValueError, match="perms"):
        alignment.apply_permutation(a, [jnp.arange(6)])
    with pytest.raises(ValueError, match="perms"):
        alignment.apply_permutation(a, [jnp.arange(5), jnp.arange(5)])
    cnn = models.cnn1d(12, 3, channels=(3, 4), kernel_size=3)
    with pytest.raises(ValueError, match="params"):
        alignment.weight_matching(cnn.init(key), cnn.init(key), key=key)
    with pytest.raises(ValueError, match="params"):
        alignment.hidden_widths({"w": jnp.ones((2, 2))})
