"""Sharpness is not reparametrisation-invariant; filter-normalised slices are.

A ReLU network computes the same function after its first layer is scaled by
``alpha`` and the second by ``1 / alpha`` (ReLU is positively homogeneous), but
the Hessian, and with it ``lambda_max``, changes with ``alpha`` (Dinh et al.
2017). Filter-normalised directions (Li et al. 2018) scale with the weights, so
the slice along them is the same at every ``alpha``; a plain gaussian direction
is not.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from landscape import curvature, data, directions, models, surfaces
from landscape.studies.reproductions import _common

NAME = "reparametrisation"
CLAIM = (
    "Sharpness is not reparametrisation-invariant: rescaling a ReLU network's layers as "
    "(alpha W1, W2 / alpha) leaves the function unchanged but scales lambda_max (Dinh, "
    "Pascanu, Bengio & Bengio 2017, 'Sharp minima can generalize for deep nets', ICML); "
    "filter-normalised slices (Li et al. 2018, NeurIPS) are unchanged."
)
SETTING = (
    "A one-hidden-layer ReLU MLP trained with Adam (full batch) on sklearn digits; at "
    "alpha in a range of scales: the largest output change over the training inputs, "
    "lambda_max of the training-loss Hessian (Lanczos), and 1-D slices along the same "
    "gaussian draw, filter-normalised and plain."
)
RULE = (
    "Reproduced if all four hold: (a) the outputs change by at most 1e-6 relative at every "
    "alpha; (b) lambda_max spans at least a factor 10 over the alphas; (c) the "
    "filter-normalised slices differ by at most 1e-6 of the slice's range at every alpha; "
    "(d) the plain-direction slices differ by more than 1e-2 of that range (the "
    "normalisation is what makes (c) hold)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: int = 64
    num_steps: int = 600
    learning_rate: float = 0.01
    alphas: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)
    slice_radius: float = 1.0
    slice_points: int = 41
    lanczos_iters: int = 40
    seed: int = 0


SIZES = {
    "tiny": Config(hidden=16, num_steps=100, alphas=(0.3, 1.0, 3.0), slice_points=11,
                   lanczos_iters=20),
    "default": Config(),
}


def rescale(params, alpha: float):
    """``(alpha W1, alpha b1, W2 / alpha, b2)``: the same ReLU network, reparametrised
    (``alpha > 0``; ReLU is positively homogeneous).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from landscape import models
    >>> model = models.mlp(2, (3,), 1)
    >>> params = model.init(jax.random.key(0))
    >>> x = jnp.ones((4, 2))
    >>> bool(jnp.allclose(model.apply(rescale(params, 10.0), x), model.apply(params, x)))
    True
    """
    if not alpha > 0:
        raise ValueError(f"alpha: must be positive (ReLU is positively homogeneous), got {alpha}")
    first, second = params
    return [
        {"w": alpha * first["w"], "b": alpha * first["b"]},
        {"w": second["w"] / alpha, "b": second["b"]},
    ]


@functools.partial(jax.jit, static_argnames="norm")
def _directions(key, params, *, norm):
    return directions.random_directions(key, params, num=1, norm=norm)[0]


def run(config: Config, *, progress: bool = True) -> _common.Result:
    with _common.Timer() as timer:
        ds = data.digits().astype(_common.float_dtype())
        model = models.mlp(ds.in_dim, (config.hidden,), ds.out_dim, activation="relu")
        key = jax.random.key(config.seed)
        k_train, k_eig, k_dir = jax.random.split(key, 3)
        params, loss, batch = _common.train_one(
            model, ds, key=k_train, optimizer="adam", learning_rate=config.learning_rate,
            num_steps=config.num_steps, progress=progress)
        out_ref = model.apply(params, batch.x)
        ts = jnp.linspace(-config.slice_radius, config.slice_radius, config.slice_points,
                          dtype=batch.x.dtype)
        f, _, _ = curvature.flat_loss(loss, params)
        lmax, out_change, slices_fn, slices_plain = [], [], [], []
        for alpha in config.alphas:
            p = rescale(params, alpha)
            out_change.append(float(jnp.max(jnp.abs(model.apply(p, batch.x) - out_ref))
                                    / jnp.max(jnp.abs(out_ref))))
            op = curvature.hessian_operator(loss, p, batch)
            vals, _, _ = _common.top_eigenvalues(op.matvec, op.args, op.size, op.dtype,
                                                 key=k_eig, num_eigs=1,
                                                 num_iters=config.lanczos_iters)
            lmax.append(vals[0])
            x = op.args[0]
            d_filter = _directions(k_dir, p, norm="filter")
            d_plain = _directions(k_dir, p, norm="none")
            slices_fn.append(np.asarray(surfaces.slice_1d(f, x, d_filter, ts, batch).losses))
            slices_plain.append(np.asarray(surfaces.slice_1d(f, x, d_plain, ts, batch).losses))
        slices_fn, slices_plain = np.stack(slices_fn), np.stack(slices_plain)
        lmax = np.asarray(lmax)
        ref = config.alphas.index(1.0) if 1.0 in config.alphas else 0
        span = max(float(np.ptp(slices_fn[ref])), 1e-300)
        numbers = {
            "max_output_change": float(np.max(out_change)),
            "lambda_max_at_alpha_1": float(lmax[ref]),
            "lambda_max_min": float(lmax.min()),
            "lambda_max_max": float(lmax.max()),
            "lambda_max_span": float(lmax.max() / lmax.min()),
            "filter_slice_change": float(np.max(np.abs(slices_fn - slices_fn[ref])) / span),
            "plain_slice_change": float(np.max(np.abs(slices_plain - slices_plain[ref])) / span),
            "train_loss": float(loss(params, batch)),
        }
        setting = (f"{_common.describe_problem(model, ds, params)}; Adam lr "
                   f"{config.learning_rate:g}, {config.num_steps} full-batch steps; alphas "
                   f"{list(config.alphas)}")
    arrays = {"alphas": np.asarray(config.alphas), "lambda_max": lmax, "ts": np.asarray(ts),
              "slices_filter": slices_fn, "slices_plain": slices_plain}
    return _common.Result(NAME, numbers, arrays, setting, timer.seconds)


def verdict(numbers: dict[str, float]) -> tuple[bool, str]:
    parts = {
        "(a) function unchanged": numbers["max_output_change"] <= 1e-6,
        "(b) lambda_max spans >= 10x": numbers["lambda_max_span"] >= 10,
        "(c) filter-normalised slices unchanged": numbers["filter_slice_change"] <= 1e-6,
        "(d) plain slices change": numbers["plain_slice_change"] > 1e-2,
    }
    return _common.verdict_text(parts, (
        f"output change {_common.fmt(numbers['max_output_change'])}, lambda_max "
        f"{_common.fmt(numbers['lambda_max_min'])}..{_common.fmt(numbers['lambda_max_max'])}"
        f", filter-slice change {_common.fmt(numbers['filter_slice_change'])}, plain "
        f"{_common.fmt(numbers['plain_slice_change'])}"))


def figure(result: _common.Result, out_dir=None):
    from landscape import plots

    a = result.arrays
    with _common.panels(3, aspect=0.32) as (fig, axes):
        ax = axes[0]
        ax.loglog(a["alphas"], a["lambda_max"], "o-", color=plots.COLORS[0])
        ax.set(xlabel="rescaling alpha", ylabel="lambda_max of the Hessian",
               title="sharpness changes")
        for ax, key, title in ((axes[1], "slices_filter", "filter-normalised direction"),
                               (axes[2], "slices_plain", "plain gaussian direction")):
            for i, alpha in enumerate(a["alphas"]):
                ax.plot(a["ts"], a[key][i], color=plots.COLORS[i % len(plots.COLORS)],
                        lw=2.2 - 0.35 * i, label=f"alpha = {alpha:g}")
            ax.set(xlabel="step t along the direction", ylabel="training loss (nats)",
                   title=title)
        axes[2].set_yscale("log")
        axes[1].legend(loc="upper center")
    return _common.save_figure(fig, NAME, out_dir)
