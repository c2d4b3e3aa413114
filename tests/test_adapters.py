"""Adapters against hand-written plain-JAX networks: Hessian-vector products through each
Problem equal the dense float64 Hessian of the same network written out by hand (plain
and BatchNorm in evaluation mode), parameter counts exclude model and RNG state, layouts
are inferred (and refused where they would be a guess), Equinox filters are normalised
along the output axis, weight matching recovers a permutation of an Equinox MLP, and a
Flax CNN with BatchNorm and Dropout trains with its state threaded through the steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import alignment, curvature, data, directions, objectives, paths, train
from landscape.problem import Layout, check_params, from_functions, weight_axes

eqx = pytest.importorskip("equinox")
nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

from landscape.adapters.equinox import from_equinox  # noqa: E402
from landscape.adapters.flax_linen import from_linen  # noqa: E402
from landscape.adapters.flax_nnx import from_nnx  # noqa: E402

F64 = jnp.float64
EPS = 1e-5  # BatchNorm epsilon of all three frameworks


@pytest.fixture(scope="module")
def ds():
    return data.gaussian_mixture(num_samples=40, num_classes=3, dim=3, seed=0).astype(np.float64)


# ----------------------------------------------------------------------------- the networks


def ref_outputs(p, x, stats=None):
    """The network by hand: dense 3->4, [BatchNorm in evaluation mode], tanh, dense 4->3."""
    h = x @ p["W1"] + p["b1"][None, :]
    if stats is not None:
        mean, var = stats
        h = (h - mean[None, :]) / jnp.sqrt(var + EPS)[None, :] * p["s"][None, :] + p["c"][None, :]
    return jnp.tanh(h) @ p["W2"] + p["b2"][None, :]


class LinenMLP(nn.Module):
    bn: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(4, param_dtype=F64)(x)
        if self.bn:
            x = nn.BatchNorm(use_running_average=not train, epsilon=EPS, param_dtype=F64,
                             dtype=F64)(x)
        return nn.Dense(3, param_dtype=F64)(jnp.tanh(x))


class NNXMLP(nnx.Module):
    def __init__(self, rngs, bn=False):
        self.l1 = nnx.Linear(3, 4, rngs=rngs, param_dtype=F64)
        self.bn = nnx.BatchNorm(4, rngs=rngs, param_dtype=F64, dtype=F64) if bn else None
        self.drop = nnx.Dropout(0.3, rngs=rngs)
        self.l2 = nnx.Linear(4, 3, rngs=rngs, param_dtype=F64)

    def __call__(self, x):
        h = self.l1(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.l2(self.drop(jnp.tanh(h)))


class EqxBN(eqx.Module):
    l1: eqx.nn.Linear
    bn: eqx.nn.BatchNorm
    l2: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.l1 = eqx.nn.Linear(3, 4, key=k1, dtype=F64)
        self.bn = eqx.nn.BatchNorm(4, axis_name="batch", mode="batch", eps=EPS, dtype=F64)
        self.l2 = eqx.nn.Linear(4, 3, key=k2, dtype=F64)

    def __call__(self, x, state):
        h, state = self.bn(self.l1(x), state)
        return self.l2(jnp.tanh(h)), state


def eqx_mlp(key):
    return eqx.nn.MLP(3, 3, 4, 1, activation=jnp.tanh, key=key, dtype=F64)


def plain_problem(ds):
    def init(key):
        k1, k2 = jax.random.split(key)
        return {"W1": jax.random.normal(k1, (3, 4), F64), "b1": jnp.zeros(4, F64),
                "W2": jax.random.normal(k2, (4, 3), F64), "b2": jnp.zeros(3, F64)}

    return from_functions(init, ref_outputs, ds, name="plain")


# How each framework's leaves map onto the hand-written names (path -> (name, transposed)).
MAPS = {
    "plain": {"['W1']": ("W1", False), "['b1']": ("b1", False), "['W2']": ("W2", False),
              "['b2']": ("b2", False)},
    "linen": {"['Dense_0']['kernel']": ("W1", False), "['Dense_0']['bias']": ("b1", False),
              "['Dense_1']['kernel']": ("W2", False), "['Dense_1']['bias']": ("b2", False),
              "['BatchNorm_0']['scale']": ("s", False), "['BatchNorm_0']['bias']": ("c", False)},
    "nnx": {"['l1']['kernel'].value": ("W1", False), "['l1']['bias'].value": ("b1", False),
            "['l2']['kernel'].value": ("W2", False), "['l2']['bias'].value": ("b2", False),
            "['bn']['scale'].value": ("s", False), "['bn']['bias'].value": ("c", False)},
    "equinox": {".layers[0].weight": ("W1", True), ".layers[0].bias": ("b1", False),
                ".layers[1].weight": ("W2", True), ".layers[1].bias": ("b2", False),
                ".l1.weight": ("W1", True), ".l1.bias": ("b1", False),
                ".l2.weight": ("W2", True), ".l2.bias": ("b2", False),
                ".bn.weight": ("s", False), ".bn.bias": ("c", False)},
}


def to_ref(params, kind):
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name, transposed = MAPS[kind][jax.tree_util.keystr(path)]
        out[name] = leaf.T if transposed else leaf
    return out


def from_ref(ref, template, kind):
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, _ in flat:
        name, transposed = MAPS[kind][jax.tree_util.keystr(path)]
        leaves.append(ref[name].T if transposed else ref[name])
    return jax.tree_util.tree_unflatten(treedef, leaves)


def set_stats(state, kind, mean, var):
    """The problem's model state with the running statistics set to (mean, var)."""
    if kind == "linen":
        return {"batch_stats": {"BatchNorm_0": {"mean": mean, "var": var}}}
    leaves, treedef = jax.tree_util.tree_flatten(state)
    floats = [i for i, leaf in enumerate(leaves) if jnp.issubdtype(leaf.dtype, jnp.floating)]
    assert len(floats) == 2  # NNX: ['bn']['mean'], ['bn']['var']; Equinox: (mean, var)
    leaves[floats[0]], leaves[floats[1]] = mean, var
    return jax.tree_util.tree_unflatten(treedef, leaves)


def build(kind, ds, bn=False):
    if kind == "plain":
        return plain_problem(ds)
    if kind == "linen":
        return from_linen(LinenMLP(bn=bn), ds)
    if kind == "nnx":
        return from_nnx(lambda key: NNXMLP(nnx.Rngs(key), bn=bn), ds)
    if bn:
        return from_equinox(lambda key: eqx.nn.make_with_state(EqxBN)(key), ds)
    return from_equinox(eqx_mlp, ds)


# ----------------------------------------------------------------------------- Hessians


def check_hvp_against_dense(prob, kind, params, state, batch, stats, key):
    ref = to_ref(params, kind)
    theta, unravel = ravel_pytree(ref)

    def ref_loss(t):
        return objectives.cross_entropy(ref_outputs(unravel(t), batch.x, stats), batch.y)

    hessian = jax.hessian(ref_loss)(theta)  # dense, float64, (n, n)
    loss = prob.loss_fn(state)
    np.testing.assert_allclose(loss(params, batch), ref_loss(theta), rtol=1e-13)
    for v in jax.random.normal(key, (3, theta.size), F64):
        hv = curvature.hvp(loss, params, batch, from_ref(unravel(v), params, kind))
        got, want = ravel_pytree(to_ref(hv, kind))[0], hessian @ v
        assert float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want)) < 1e-10


@pytest.mark.parametrize("kind", ["plain", "linen", "nnx", "equinox"])
def test_hvp_equals_dense_hessian_of_the_hand_written_network(kind, ds, key):
    prob = build(kind, ds)
    params, state = prob.init_all(jax.random.key(1))
    assert state is None and not prob.has_state
    assert prob.num_params(params) == 3 * 4 + 4 + 4 * 3 + 3  # RNG state (NNX) not counted
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    check_hvp_against_dense(prob, kind, params, state, batch, None, key)


@pytest.mark.parametrize("kind", ["linen", "nnx", "equinox"])
@pytest.mark.slow
def test_eval_mode_hessian_of_a_batchnorm_model(kind, ds, key):
    prob = build(kind, ds, bn=True)
    assert prob.has_state and prob.curvature_mode == "eval"
    params, state = prob.init_all(jax.random.key(2))
    assert prob.num_params(params) == 3 * 4 + 4 + 2 * 4 + 4 * 3 + 3  # statistics excluded
    assert check_params(params) == np.dtype(np.float64)
    k1, k2 = jax.random.split(key)
    mean = jax.random.normal(k1, (4,), F64)
    var = jnp.exp(jax.random.normal(k2, (4,), F64))  # running statistics far from (0, 1)
    state = set_stats(state, kind, mean, var)
    batch = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    check_hvp_against_dense(prob, kind, params, state, batch, (mean, var), key)
    with pytest.raises(ValueError, match="^state:"):
        prob.loss_fn()  # a stateful problem needs its state


# ----------------------------------------------------------------------------- layouts, forms


def test_layouts_are_inferred_and_never_guessed(ds):
    mlp = build("equinox", ds)
    assert mlp.layout.weights == {".layers[0].weight": -2, ".layers[1].weight": -2}
    assert [layer.out_axis for layer in mlp.layout.dense_chain] == [-2, -2]
    assert mlp.info["framework"] == "equinox" and mlp.info["equinox"] == eqx.__version__
    linen = build("linen", ds)
    assert linen.layout.dense_chain is not None and set(linen.layout.weights.values()) == {-1}
    assert linen.info["flax"] is not None
    nnx_mlp = build("nnx", ds)  # dropout between the layers is elementwise
    assert nnx_mlp.layout.dense_chain is not None
    for kind in ("linen", "nnx", "equinox"):  # BatchNorm between layers: no chain, a reason
        prob = build(kind, ds, bn=True)
        assert prob.layout.dense_chain is None and "outside the dense layers" in \
            prob.info["layout_note"]
        with pytest.raises(ValueError, match="^layout: the network is not a plain chain"):
            alignment.require_dense_chain(prob.layout)
    with pytest.raises(ValueError, match="^layout: the problem declares no layout"):
        alignment.require_dense_chain(plain_problem(ds).layout)

    def cnn(key):
        k1, k2 = jax.random.split(key)
        return eqx.nn.Sequential([
            eqx.nn.Lambda(lambda x: x[None, :]),
            eqx.nn.Conv1d(1, 2, 2, key=k1, dtype=F64),
            eqx.nn.Lambda(lambda x: jnp.tanh(x).reshape(-1)),
            eqx.nn.Linear(4, 3, key=k2, dtype=F64),
        ])

    conv = from_equinox(cnn, ds)
    assert conv.layout.weights == {".layers[1].weight": -3, ".layers[3].weight": -2}
    assert conv.layout.dense_chain is None and "convolution" in conv.info["layout_note"]


def test_models_in_the_wrong_form_get_errors_that_say_what_to_pass(ds):
    model = eqx_mlp(jax.random.key(0))
    with pytest.raises(ValueError, match="^make_model: got an Equinox module; pass a function"):
        from_equinox(model, ds)
    with pytest.raises(ValueError, match="^params: got a whole Equinox module"):
        check_params(model)
    graph = NNXMLP(nnx.Rngs(0))
    with pytest.raises(ValueError, match="^make_model: got an NNX module; pass a function"):
        from_nnx(graph, ds)
    with pytest.raises(ValueError, match="^params: got an NNX module"):
        check_params(graph)
    with pytest.raises(ValueError, match="^params: leaf .* is a PRNG key"):
        check_params(nnx.state(graph))
    def linen_variables(k):
        with jax.numpy_dtype_promotion("standard"):  # Flax's float32 running statistics
            return LinenMLP(bn=True).init(k, jnp.ones((2, 3), F64))

    variables = linen_variables(jax.random.key(0))
    with pytest.raises(ValueError, match="^params: holds 'batch_stats'.*from_linen"):
        check_params(variables)
    with pytest.raises(ValueError, match="^module: expected a flax.linen.Module.*variables"):
        from_linen(variables, ds)
    # the same through training: an init that returns the whole variables
    prob = from_functions(linen_variables, lambda v, x: x, ds)
    with pytest.raises(ValueError, match="^params: holds 'batch_stats'"):
        train.train(prob, train.TrainConfig(num_steps=1), key=jax.random.key(0), progress=False)


# ----------------------------------------------------------------------------- surfaces, matching


def test_filter_normalisation_follows_the_equinox_output_axis(ds, key):
    prob = build("equinox", ds)
    params = prob.init(jax.random.key(3))
    axes = weight_axes(params, prob.layout)
    assert axes == [-2, None, -2, None]  # weights (out, in), biases
    dirs = directions.random_directions(key, params, num=2, weight_axes=axes)
    unravel = ravel_pytree(params)[1]
    for d in dirs:
        tree = unravel(d)
        for w_dir, w in ((tree.layers[0].weight, params.layers[0].weight),
                         (tree.layers[1].weight, params.layers[1].weight)):
            ratio = jnp.linalg.norm(w_dir, axis=1) / jnp.linalg.norm(w, axis=1)  # one per unit
            np.testing.assert_allclose(ratio, 1.0, rtol=1e-10)
        assert float(jnp.abs(tree.layers[0].bias).max()) == 0.0  # biases not perturbed
    # the default convention (output units last) normalises the wrong filters here
    wrong = unravel(directions.random_directions(key, params, num=1)[0])
    ratio = jnp.linalg.norm(wrong.layers[0].weight, axis=1) / jnp.linalg.norm(
        params.layers[0].weight, axis=1)
    assert float(jnp.max(jnp.abs(ratio - 1.0))) > 1e-3
    with pytest.raises(ValueError, match="^weight_axes:"):
        directions.random_directions(key, params, weight_axes=[-2, None])


def test_weight_matching_recovers_a_permuted_equinox_mlp(key):
    ds = data.gaussian_mixture(num_samples=60, num_classes=3, dim=5, seed=1).astype(np.float64)
    prob = from_equinox(lambda k: eqx.nn.MLP(5, 3, 16, 2, activation=jnp.tanh, key=k,
                                             dtype=F64), ds)
    a = prob.init(jax.random.key(4))
    perms = alignment.random_permutations(a, key=key, layout=prob.layout)
    b = alignment.apply_permutation(a, perms, layout=prob.layout)
    assert isinstance(b, eqx.nn.MLP)
    outputs = prob.outputs_fn()
    x = jnp.asarray(ds.x_train)
    np.testing.assert_allclose(outputs(b, x), outputs(a, x), rtol=1e-12, atol=1e-12)
    assert float(alignment.relative_distance(a, b)) > 0.5
    match = alignment.weight_matching(a, b, key=key, layout=prob.layout)
    for p, q in zip(perms, match.perms, strict=True):  # b's unit p[i] is a's unit i
        np.testing.assert_array_equal(np.asarray(p)[np.asarray(q)], np.arange(len(p)))
    assert float(alignment.relative_distance(a, match.params)) < 1e-12
    loss = prob.loss_fn()
    batch = data.Batch(x, jnp.asarray(ds.y_train))
    xa, unravel = ravel_pytree(a)
    xb = ravel_pytree(match.params)[0]
    path = paths.interpolate(lambda v, bt: loss(unravel(v), bt), xa, xb, batch, num_points=9)
    height, _ = paths.barrier(path.ts, path.losses)
    assert float(height) < 1e-6
    with pytest.raises(ValueError, match="^layout: the network is not a plain chain"):
        alignment.weight_matching(a, b, key=key, layout=Layout(prob.layout.weights, None))


# ----------------------------------------------------------------------------- training


class LinenCNN(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(3, kernel_size=(2,), param_dtype=F64)(x[..., None])
        x = nn.BatchNorm(use_running_average=not train, momentum=0.8, param_dtype=F64,
                         dtype=F64)(x)
        x = nn.Dropout(0.25, deterministic=not train)(nn.relu(x))
        return nn.Dense(3, param_dtype=F64)(x.reshape((x.shape[0], -1)))


@pytest.mark.slow
def test_train_seeds_threads_batchnorm_state_and_dropout_keys(key):
    ds = data.gaussian_mixture(num_samples=50, num_classes=3, dim=4, seed=2).astype(np.float64)
    prob = from_linen(LinenCNN(), ds)
    assert prob.has_state and prob.layout.dense_chain is None
    assert prob.layout.weights == {"['Conv_0']['kernel']": -1, "['Dense_0']['kernel']": -1}
    config = train.TrainConfig(optimizer="momentum", learning_rate=0.05, num_steps=4,
                               eval_every=2, batch_size=10)
    keys = jax.random.split(key, 2)
    result = train.train_seeds(prob, config, keys=keys, progress=False)
    stats = result.state["batch_stats"]["BatchNorm_0"]
    assert stats["mean"].shape == (2, 3) and not bool(result.diverged.any())
    # the reference: the same steps written out, state and dropout key threaded by hand
    full = data.Batch(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train))
    opt = config.make_optimizer()
    for s in range(2):
        init_key, data_key, dropout_key = jax.random.split(keys[s], 3)
        params, state = prob.init(init_key), prob.init_state(init_key)
        opt_state = opt.init(params)
        for t in range(config.num_steps):
            idx = data.batch_indices(data_key, t, num_examples=ds.num_train, batch_size=10)
            (_, state), g = jax.value_and_grad(prob.train_loss, has_aux=True)(
                params, state, data.get_batch(full, idx), jax.random.fold_in(dropout_key, t))
            with jax.numpy_dtype_promotion("standard"):
                updates, opt_state = opt.update(g, opt_state, params)
            params = jax.tree_util.tree_map(lambda p, u: p + u, params, updates)
        mine = jax.tree_util.tree_map(lambda a, s=s: a[s], (result.params, result.state))
        for got, want in zip(jax.tree_util.tree_leaves(mine),
                             jax.tree_util.tree_leaves((params, state)), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        metrics = prob.metrics_fn(state)(params, full)  # curves are in evaluation mode
        np.testing.assert_allclose(result.curves.train_loss[s, -1], metrics["loss"], rtol=1e-10)
    # the two seeds differ (initialisation, data order, dropout)
    assert not np.allclose(stats["mean"][0], stats["mean"][1])
