"""Hessian spectrum of a :class:`~landscape.problem.Problem` at initialisation and after
full-batch training, per layer, across data subsamples, and the sharpness along training
next to 2 / learning rate.

The study trains the problem's network once by full-batch gradient descent
(parameters recorded every ``eval_every`` steps) and, on the deterministic loss
:meth:`Problem.loss_fn <landscape.problem.Problem.loss_fn>` (dropout off, model state
in the problem's ``curvature_mode``, evaluation mode by default; the mode is recorded;
each end with its own running statistics, passed to one compiled program as an argument):

* at the initialisation and at the end of training: the ``num_top`` largest and
  smallest Hessian eigenvalues with their residuals (:func:`landscape.lanczos.extreme_eigs`),
  the spectral density by stochastic Lanczos quadrature (:func:`landscape.stochtrace.slq`,
  Ubaru et al. 2017), the trace from the same probes, and the index (fraction of
  eigenvalues below ``-index_rtol * lambda_max``) with its bracket;
* counts the outliers: the top eigenvalues above the largest relative gap among the
  ``num_top`` largest (for a ``C``-class problem about ``C`` outliers separate from
  the bulk during training: Sagun et al. 2017, Papyan 2019, Ghorbani et al. 2019);
* the ``num_top`` largest eigenvalues of the Gauss-Newton matrix ``J^T H_out J``
  (:func:`landscape.curvature.gauss_newton_operator`) at both points and their outliers,
  beside the Hessian's: the outliers of the Hessian come from the Gauss-Newton part
  (Papyan 2020);
* per layer: the largest and smallest eigenvalue of the Hessian restricted to the
  weights of one layer (:func:`landscape.curvature.restrict`), the other parameters held
  fixed; it needs the problem's layout (``problem.layout.weights``) and is skipped,
  with that reason, without it;
* the spread of ``lambda_max`` over ``spread_subsamples`` random subsets of
  ``spread_size`` training examples at the end of training
  (:func:`landscape.subsamples.lambda_max_spread`): the value a single batch reports;
* ``lambda_max`` at every recorded step next to ``2 / learning_rate``: for full-batch
  GD it rises (progressive sharpening) until it reaches ``2 / lr`` and then hovers
  there, the edge of stability (Cohen et al. 2021).

Every phase (training, each spectrum, the layers, the spread, the sharpness) is
written to the run directory as soon as it is finished; a rerun in the same
directory loads the finished phases and computes only the rest.

References
----------
Sagun, L., Evci, U., Guney, V. U., Dauphin, Y. and Bottou, L. (2017). Empirical
analysis of the Hessian of over-parametrized neural networks. arXiv:1706.04454.
Ghorbani, B., Krishnan, S. and Xiao, Y. (2019). An investigation into neural net
optimization via Hessian eigenvalue density. ICML.
Papyan, V. (2019). Measurements of three-level hierarchical structure in the outliers
in the spectrum of deepnet Hessians. ICML.
Cohen, J. M., Kaur, S., Li, Y., Kolter, J. Z. and Talwalkar, A. (2021). Gradient
descent on neural networks typically occurs at the edge of stability. ICLR.
Papyan, V. (2020). Traces of class/cross-class structure pervade deep learning
spectra. JMLR 21(252).
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import curvature, objectives, results, subsamples, train
from landscape.problem import Problem
from landscape.studies import _common
from landscape.studies import spectrum_measure as measure
from landscape.studies._common import Profile
from landscape.studies.spectrum_measure import count_outliers

__all__ = [
    "PROFILES",
    "Config",
    "Result",
    "count_outliers",
    "format_summary",
    "load",
    "run",
    "save",
]

PHASES = ("train", "spectrum_init", "spectrum_trained", "layers", "spread", "sharpness")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that fixes a spectrum study of a given problem.

    Attributes
    ----------
    seed : int
        Initialisation, Lanczos start vectors, probes and subsamples.
    learning_rate : float
        Full-batch gradient descent step size; the edge of stability is 2 / learning_rate.
    num_steps : int
        Gradient-descent steps.
    eval_every : int
        Steps between the points where lambda_max is tracked along training.
    num_top : int
        Extreme eigenvalues computed at each end of the spectrum.
    lanczos_iters : int
        Lanczos basis for the extreme eigenvalues (at least 2 * num_top).
    tol : float
        Lanczos tolerance, relative to lambda_max.
    slq_iters : int
        Lanczos steps per probe of stochastic Lanczos quadrature.
    slq_probes : int
        Probe vectors of stochastic Lanczos quadrature.
    sigma_rel : float
        Width of the gaussian smoothing the drawn density, relative to the spectral range.
    index_rtol : float
        An eigenvalue counts as negative below -index_rtol * lambda_max.
    sharpness_iters : int
        Lanczos basis for lambda_max along training and on each subsample.
    layer_iters : int
        Lanczos basis for the curvature of each layer's weights (0: skip the layers).
    spread_subsamples : int
        Data subsamples for the spread of lambda_max (0: skip the spread).
    spread_size : int
        Training examples in each subsample.
    gauss_newton : bool
        Also compute the largest eigenvalues of the Gauss-Newton matrix (Papyan 2020).
    """

    seed: int = 0
    learning_rate: float = 0.2
    num_steps: int = 2000
    eval_every: int = 50
    num_top: int = 20
    lanczos_iters: int = 120
    tol: float = 1e-5
    slq_iters: int = 80
    slq_probes: int = 8
    sigma_rel: float = 1e-2
    index_rtol: float = 1e-3
    sharpness_iters: int = 30
    layer_iters: int = 30
    spread_subsamples: int = 8
    spread_size: int = 256
    gauss_newton: bool = True

    def __post_init__(self):
        def is_int(value):
            return isinstance(value, int | np.integer) and not isinstance(value, bool)

        for name in ("num_steps", "eval_every", "num_top", "lanczos_iters", "slq_iters",
                     "slq_probes", "sharpness_iters", "spread_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        for name in ("seed", "layer_iters", "spread_subsamples"):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")
        if not isinstance(self.gauss_newton, bool | np.bool_):
            raise ValueError(f"gauss_newton: must be a bool, got {self.gauss_newton!r}")
        if self.layer_iters == 1:
            raise ValueError("layer_iters: need at least 2 Lanczos steps (or 0 to skip)")
        if self.spread_subsamples == 1:
            raise ValueError("spread_subsamples: a spread needs at least 2 subsamples "
                             "(or 0 to skip)")
        for name in ("learning_rate", "tol", "sigma_rel", "index_rtol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise ValueError(f"{name}: must be a positive number, got {value!r}")
        if 2 * self.num_top > self.lanczos_iters:
            raise ValueError(
                f"num_top: 2 * num_top = {2 * self.num_top} exceeds lanczos_iters = "
                f"{self.lanczos_iters}"
            )

    def train_settings(self) -> dict[str, Any]:
        """Full-batch gradient descent, parameters recorded every ``eval_every`` steps
        (keyword arguments of :class:`landscape.train.TrainConfig`)."""
        return dict(optimizer="sgd", learning_rate=self.learning_rate,
                    num_steps=self.num_steps, batch_size=None, eval_every=self.eval_every,
                    record_params=True)


# The problem part is keyword arguments of landscape.registry.builtin; with these the
# profiles give the numbers they gave when the study was written for this MLP alone.
PROFILES: dict[str, Profile] = {
    "quick": Profile(
        dict(model="mlp", dataset="mnist1d", num_samples=2000, hidden=(64, 64)),
        Config(num_steps=1500, eval_every=50, lanczos_iters=80, slq_iters=60, slq_probes=4),
    ),
    "full": Profile(
        dict(model="mlp", dataset="mnist1d", num_samples=4000, hidden=(100, 100)),
        Config(num_steps=4000, eval_every=50),
    ),
}


class Result(NamedTuple):
    """What :func:`run` returns (and :func:`load` reads back).

    Attributes
    ----------
    config : Config
    problem : dict
        :meth:`Problem.describe <landscape.problem.Problem.describe>` of the problem.
    num_params : int
    spectra : dict
        ``"init"`` and ``"trained"``, each with ``top`` (num_top,) descending,
        ``bottom`` (num_top,) ascending, ``top_residuals`` / ``bottom_residuals``, the
        SLQ ``nodes`` / ``weights`` (probes, slq_iters), the smoothed density ``density``
        on ``grid`` (3000,), ``trace``, ``trace_stderr``,
        ``index``, ``index_stderr``, ``index_lower``, ``index_upper``, ``outliers``,
        ``gap_ratio``, ``converged``, ``num_matvecs``.
    sharpness : dict of (E,) arrays or None
        ``step``, ``lambda_max``, ``residual``, ``train_loss``, ``train_accuracy``.
    layers : dict of (L,) arrays or None
        ``name`` (the weight's path), ``size``, and for ``init_`` and ``trained_``:
        ``lambda_max``, ``lambda_min`` and their residuals.
    gauss_newton : dict or None
        ``"init"`` and ``"trained"``: ``top`` (num_top,) eigenvalues of the Gauss-Newton
        matrix, descending, ``top_residuals``, ``outliers``, ``gap_ratio``.
    spread : dict or None
        ``values`` (s,), ``residuals`` (s,) of ``lambda_max`` on each subsample, and
        ``indices`` (s, spread_size) of the training examples in it.
    summary : dict
        Scalars of every part, ``"skipped": {part: reason}``, ``curvature_mode``.
    """

    config: Config
    problem: dict[str, Any]
    num_params: int
    spectra: dict[str, dict[str, Any]]
    sharpness: dict[str, np.ndarray] | None
    layers: dict[str, np.ndarray] | None
    spread: dict[str, np.ndarray] | None
    summary: dict[str, Any]
    gauss_newton: dict[str, dict[str, Any]] | None = None


def _train(problem, config, key, progress):
    tcfg = train.TrainConfig(**config.train_settings())
    result = train.train(problem, tcfg, key=key, progress=progress)
    state = result.state
    curves = result.curves
    out = {
        "trajectory": np.asarray(result.trajectory),
        "step": np.asarray(curves.step, np.int64),
        "train_loss": np.asarray(curves.train_loss, np.float64),
        "train_accuracy": np.asarray(curves.train_accuracy, np.float64),
        "diverged": np.asarray(result.diverged, bool),
        "diverged_step": np.asarray(result.diverged_step, np.int64),
    }
    out["state"] = _common.leaves(state)
    return out


def _check_problem(problem: Problem, config: Config) -> None:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem: expected a landscape.problem.Problem, got "
                         f"{type(problem).__name__}")
    if not isinstance(config, Config):
        raise ValueError(f"config: expected a spectrum.Config, got {type(config).__name__}")
    if config.spread_subsamples and config.spread_size > problem.data.num_train:
        raise ValueError(f"spread_size: {config.spread_size} exceeds the "
                         f"{problem.data.num_train} training examples of {problem.name!r}")


# ----------------------------------------------------------------------------- run


def _loss_of_params_and_state(problem: Problem):
    """``loss(params, (batch, state))``: the deterministic loss with the model state an
    argument (never differentiated: the Hessian is over ``params`` alone)."""

    def loss(params, data):
        batch, state = data
        return problem.loss_fn(state)(params, batch)

    return loss


def run(problem: Problem, config: Config, run_dir: str | Path | None = None, *,
        progress: bool = True) -> Result:
    """Train, then measure the spectrum at the start and the end, per layer, across
    subsamples, and the sharpness along the way (see the module docstring).

    Parameters
    ----------
    problem : Problem
    config : Config
    run_dir : path, optional
        Every finished phase is written here at once; a rerun loads finished phases.
        A directory holding a different config, problem or float dtype is refused.
    progress : bool
        tqdm bars.

    Examples
    --------
    >>> from landscape import registry
    >>> prob = registry.builtin("mlp", dataset="gaussian_mixture", hidden=(4,),
    ...                         num_samples=120)
    >>> cfg = Config(num_steps=4, eval_every=2, num_top=2, lanczos_iters=8, slq_iters=6,
    ...              slq_probes=2, sharpness_iters=6, layer_iters=4, spread_subsamples=2,
    ...              spread_size=20)
    >>> result = run(prob, cfg, progress=False)
    >>> result.spectra["trained"]["top"].shape, result.sharpness["lambda_max"].shape
    ((2,), (3,))
    """
    _check_problem(problem, config)
    start = time.perf_counter()
    if run_dir is not None:
        results.write_config(run_dir, config, problem=problem)
    key = jax.random.key(config.seed)
    k_train, k_init_spec, k_end_spec, k_sharp = jax.random.split(key, 4)
    k_layers, k_spread = jax.random.fold_in(key, 4), jax.random.fold_in(key, 5)
    k_gn = jax.random.fold_in(key, 6)
    skipped: dict[str, str] = {}

    trained = results.cached_part(run_dir, "train",
                                  lambda: _train(problem, config, k_train, progress))
    trajectory = jnp.asarray(trained["trajectory"])
    params0, state0 = problem.init_all(k_train)
    state = _common.unleaves(jax.tree_util.tree_structure(state0), trained.get("state"))
    _, unravel = ravel_pytree(params0)
    batch = problem.data.batch("train", trajectory.dtype)
    loss_end = problem.loss_fn(state)
    if problem.has_state:
        # the model state an argument of one loss, not a constant of two: both ends (and
        # every layer) share one compiled program per part
        data_end, data_init = (batch, state), (batch, state0)
        op_loss = _loss_of_params_and_state(problem)
    else:
        data_end = data_init = batch
        op_loss = loss_end
    op_init = curvature.hessian_operator(op_loss, unravel(trajectory[0]), data_init)
    op_end = curvature.hessian_operator(op_loss, unravel(trajectory[-1]), data_end)
    fns = measure.spectrum_fns(config)
    spectra = {
        "init": results.cached_part(run_dir, "spectrum_init", lambda: measure.spectrum_at(
            trajectory[0], config, op_init, k_init_spec, fns)),
        "trained": results.cached_part(run_dir, "spectrum_trained", lambda: measure.spectrum_at(
            trajectory[-1], config, op_end, k_end_spec, fns)),
    }

    gauss_newton = None
    if not config.gauss_newton:
        skipped["gauss_newton"] = "gauss_newton = False"
    else:
        output_loss = (objectives.get_loss(problem.loss) if isinstance(problem.loss, str)
                       else problem.loss)
        out_end = problem.outputs_fn(state)
        out_init = problem.outputs_fn(state0) if problem.has_state else out_end
        gn_ops = {phase: curvature.gauss_newton_operator(out, output_loss, unravel(x), batch)
                  for phase, out, x in (("init", out_init, trajectory[0]),
                                        ("trained", out_end, trajectory[-1]))}
        gauss_newton = results.cached_part(run_dir, "gauss_newton", lambda: (
            measure.gauss_newton_top(config, gn_ops, {"init": trajectory[0],
                                                      "trained": trajectory[-1]}, k_gn)))

    layers = None
    if config.layer_iters == 0:
        skipped["layers"] = "layer_iters = 0"
    elif problem.layout is None:
        skipped["layers"] = ("the problem declares no layout (problem.layout.weights), so "
                             "its layers are unknown")
    else:
        layers = results.cached_part(run_dir, "layers", lambda: measure.layers(
            problem, config, {"init": op_init, "trained": op_end}, k_layers))

    spread = None
    if config.spread_subsamples == 0:
        skipped["spread"] = "spread_subsamples = 0"
    else:
        def compute_spread():
            s = subsamples.lambda_max_spread(
                loss_end, unravel(trajectory[-1]), batch, key=k_spread,
                num_subsamples=config.spread_subsamples, subsample_size=config.spread_size,
                num_iters=config.sharpness_iters)
            return {"values": np.asarray(s.values, np.float64),
                    "residuals": np.asarray(s.residuals, np.float64),
                    "indices": np.asarray(s.indices, np.int64)}

        spread = results.cached_part(run_dir, "spread", compute_spread)

    sharpness = None
    if problem.has_state and problem.curvature_mode == "eval":
        skipped["sharpness"] = ("training records no model state along the path, and the "
                                "eval-mode Hessian needs it; use curvature_mode='batch_stats'")
    else:
        sharp = results.cached_part(run_dir, "sharpness", lambda: measure.sharpness(
            config, op_end, trajectory, k_sharp, progress))
        sharpness = {
            "step": np.asarray(trained["step"], np.int64),
            "lambda_max": np.asarray(sharp["lambda_max"]),
            "residual": np.asarray(sharp["residual"]),
            "train_loss": np.asarray(trained["train_loss"], np.float64),
            "train_accuracy": np.asarray(trained["train_accuracy"], np.float64),
        }

    summary = summarize(config, spectra, sharpness, layers, spread, int(op_end.size),
                        bool(trained["diverged"]), skipped, gauss_newton)
    summary.update(problem=problem.name, curvature_mode=problem.curvature_mode,
                   seconds=time.perf_counter() - start)
    result = Result(config, problem.describe(), int(op_end.size), spectra, sharpness,
                    layers, spread, summary, gauss_newton)
    if run_dir is not None:
        save(result, run_dir)
    return result


def summarize(config, spectra, sharpness, layers, spread, num_params, diverged,
              skipped, gauss_newton=None) -> dict[str, Any]:
    """The scalars of every part of the study, from its arrays."""
    edge = 2.0 / config.learning_rate
    out: dict[str, Any] = {
        "num_params": num_params,
        "diverged": diverged,
        "edge_of_stability": edge,
        "skipped": dict(skipped),
    }
    if sharpness is not None:
        lm = sharpness["lambda_max"]
        reached = np.flatnonzero(lm >= 0.9 * edge)
        out.update({
            "first_step_within_10pct_of_edge": (
                int(sharpness["step"][reached[0]]) if reached.size else None
            ),
            "lambda_max_final": float(lm[-1]),
            "lambda_max_peak": float(np.max(lm)),
            "final_train_loss": float(sharpness["train_loss"][-1]),
            "final_train_accuracy": float(sharpness["train_accuracy"][-1]),
        })
    for phase, s in spectra.items():
        out[phase] = {
            "lambda_max": float(s["top"][0]),
            "lambda_min": float(s["bottom"][0]),
            "residual_max": float(s["top_residuals"][0]),
            "residual_min": float(s["bottom_residuals"][0]),
            "trace": float(s["trace"]),
            "trace_stderr": float(s["trace_stderr"]),
            "index": float(s["index"]),
            "index_stderr": float(s["index_stderr"]),
            "index_bracket": [float(s["index_lower"]), float(s["index_upper"])],
            "outliers": int(s["outliers"]),
            "gap_ratio": float(s["gap_ratio"]),
            "converged": bool(s["converged"]),
        }
    if gauss_newton is not None:
        out["gauss_newton"] = {
            phase: {"lambda_max": float(g["top"][0]), "residual_max": float(g["top_residuals"][0]),
                    "outliers": int(g["outliers"]), "gap_ratio": float(g["gap_ratio"])}
            for phase, g in gauss_newton.items()
        }
    if layers is not None:
        out["layers"] = {
            str(name): {
                "size": int(layers["size"][i]),
                "init_lambda_max": float(layers["init_lambda_max"][i]),
                "trained_lambda_max": float(layers["trained_lambda_max"][i]),
                "trained_lambda_min": float(layers["trained_lambda_min"][i]),
            }
            for i, name in enumerate(layers["name"])
        }
    if spread is not None:
        v = np.asarray(spread["values"], np.float64)
        out["spread"] = {
            "num_subsamples": int(len(v)),
            "subsample_size": config.spread_size,
            "mean": float(np.mean(v)),
            "std": float(np.std(v, ddof=1)),
            "min": float(np.min(v)),
            "max": float(np.max(v)),
            "ratio": float(np.max(v) / np.min(v)),
            "full_batch": out["trained"]["lambda_max"],
        }
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as text: one line per phase, the layers, the spread, the sharpness."""
    lines = [f"{summary.get('problem', 'problem')}: {summary['num_params']} parameters, "
             f"curvature in {summary.get('curvature_mode', 'eval')} mode"]
    for phase in ("init", "trained"):
        s = summary[phase]
        lo, hi = s["index_bracket"]
        lines.append(
            f"{phase:>7}: lambda_max {s['lambda_max']:.4g} (residual {s['residual_max']:.1g}), "
            f"lambda_min {s['lambda_min']:.3g} (residual {s['residual_min']:.1g}), "
            f"trace {s['trace']:.4g} +- {s['trace_stderr']:.2g}, index {s['index']:.3f} +- "
            f"{s['index_stderr']:.3f} (bracket [{lo:.3f}, {hi:.3f}]), {s['outliers']} outliers "
            f"(gap ratio {s['gap_ratio']:.2f})"
        )
    for phase, g in summary.get("gauss_newton", {}).items():
        lines.append(
            f"  Gauss-Newton {phase}: lambda_max {g['lambda_max']:.4g} (residual "
            f"{g['residual_max']:.1g}), {g['outliers']} outliers (gap ratio "
            f"{g['gap_ratio']:.2f}; Hessian {summary[phase]['outliers']})"
        )
    for name, layer in summary.get("layers", {}).items():
        lines.append(
            f"  layer {name} ({layer['size']} weights): lambda_max {layer['init_lambda_max']:.3g}"
            f" at init, {layer['trained_lambda_max']:.3g} trained (lambda_min "
            f"{layer['trained_lambda_min']:.3g})"
        )
    if "spread" in summary:
        sp = summary["spread"]
        lines.append(
            f"  lambda_max on {sp['num_subsamples']} subsamples of {sp['subsample_size']} "
            f"examples: {sp['mean']:.3g} +- {sp['std']:.2g} (range {sp['min']:.3g}-"
            f"{sp['max']:.3g}, max/min {sp['ratio']:.2f}); full batch {sp['full_batch']:.3g}"
        )
    if "lambda_max_final" in summary:
        first = summary["first_step_within_10pct_of_edge"]
        lines.append(
            f"sharpness: 2/lr = {summary['edge_of_stability']:.3g}; lambda_max peak "
            f"{summary['lambda_max_peak']:.3g}, final {summary['lambda_max_final']:.3g}; "
            + (f"within 10% of 2/lr from step {first}" if first is not None
               else "never within 10% of 2/lr")
            + f"; final train loss {summary['final_train_loss']:.3g}"
        )
    for part, reason in summary.get("skipped", {}).items():
        lines.append(f"skipped {part}: {reason}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- persistence

_SPECTRUM_ARRAYS = ("top", "top_residuals", "bottom", "bottom_residuals", "nodes", "weights",
                    "grid", "density")
_SPECTRUM_SCALARS = ("trace", "trace_stderr", "index", "index_stderr", "index_lower",
                     "index_upper", "outliers", "gap_ratio", "converged", "num_matvecs")


def save(result: Result, run_dir: str | Path) -> None:
    """Write ``config.json`` (checked against the one there), ``summary.json`` and
    ``arrays.npz``."""
    spectra = {phase: {name: np.asarray(s[name]) for name in _SPECTRUM_ARRAYS + _SPECTRUM_SCALARS}
               for phase, s in result.spectra.items()}
    parts = {part: getattr(result, part) for part in ("sharpness", "layers", "spread")
             if getattr(result, part) is not None}
    for phase, g in (result.gauss_newton or {}).items():
        parts[f"gauss_newton_{phase}"] = g
    _common.write_run(
        run_dir, config=result.config, problem_info=result.problem, dtype=None, tables={},
        json_files={"summary": {"summary": result.summary, "num_params": result.num_params,
                                "problem": result.problem}},
        arrays={**spectra, **parts},
    )


def load(run_dir: str | Path) -> Result:
    """Read a run directory written by :func:`run`."""
    config, _, _, _, stored, arrays = _common.read_run(run_dir, Config, tables=(),
                                                       json_files=("summary",))
    stored = stored["summary"]
    spectra = {}
    for phase in ("init", "trained"):
        s = {name: arrays[phase][name] for name in _SPECTRUM_ARRAYS}
        s.update({name: arrays[phase][name].item() for name in _SPECTRUM_SCALARS})
        spectra[phase] = s
    gauss_newton = {phase: {k: (v.item() if np.ndim(v) == 0 else v)
                            for k, v in arrays[f"gauss_newton_{phase}"].items()}
                    for phase in ("init", "trained") if f"gauss_newton_{phase}" in arrays}
    return Result(config, stored["problem"], int(stored["num_params"]), spectra,
                  arrays.get("sharpness"), arrays.get("layers"), arrays.get("spread"),
                  stored["summary"], gauss_newton or None)
