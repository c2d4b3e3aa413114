"""What the adapters share: importing a framework lazily, the parameters every adapter
takes, building the Problem, and inferring a layout."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landscape.data import Dataset
from landscape.layout import DenseLayer, Layout, leaf_paths
from landscape.problem import Problem, default_loss

PyTree = Any

# The keyword arguments every adapter takes, documented once: each adapter's docstring
# holds the line "{shared_parameters}" where they go (see shared_doc).
SHARED_PARAMETERS = """\
    loss : str or callable, optional
        Default: cross-entropy for classification, mean squared error otherwise.
    name : str, optional
        Default: the module's class name.
    layout : Layout, optional
        Replaces the inferred layout.
    info : dict, optional
        More to record in the run directory."""

MAKE_MODEL_RAISES = """\
    Raises
    ------
    ValueError
        When ``make_model`` is a module rather than a function of a key."""


def shared_doc(fn: Callable) -> Callable:
    """Put :data:`SHARED_PARAMETERS` and :data:`MAKE_MODEL_RAISES` into ``fn``'s docstring,
    in place of the lines ``{shared_parameters}`` and ``{make_model_raises}``."""
    if fn.__doc__ is not None:  # None under python -OO
        fn.__doc__ = (fn.__doc__.replace("    {shared_parameters}", SHARED_PARAMETERS)
                      .replace("    {make_model_raises}", MAKE_MODEL_RAISES))
    return fn


def build_problem(*, init: Callable, apply: Callable, data: Dataset, loss, name: str,
                  init_state: Callable | None, layout: Layout | None, info: dict | None,
                  framework: dict[str, Any],
                  infer_layout: Callable[[Problem], tuple[Layout, str]]) -> Problem:
    """The Problem of an adapter: the default loss of ``data`` unless ``loss`` is given,
    ``framework`` (its name and version) and ``info`` recorded, and the layout given or
    else ``infer_layout(problem)``, with a note of which (``info["layout_note"]``)."""
    problem = Problem(
        init=init, apply=apply, data=data,
        loss=loss if loss is not None else default_loss(data),
        name=name, init_state=init_state, layout=layout,
        info={**framework, **dict(info or {})},
    )
    note = "given"
    if layout is None:
        layout, note = infer_layout(problem)
    return problem.replace(layout=layout, info={**problem.info, "layout_note": note})


def require(module: str, pip_name: str, adapter: str):
    """Import ``module`` or raise an ImportError that names the pip package."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{adapter} needs the package {pip_name!r}: pip install {pip_name} "
            f"(or pip install 'landscape[examples]')"
        ) from err


def version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version(package)
    except PackageNotFoundError:
        return None


def chain_layout(weights: dict[str, int], chain: Sequence[DenseLayer], params: PyTree,
                 outputs: Callable[[PyTree, jax.Array], jax.Array], x: jax.Array
                 ) -> tuple[Layout, str | None]:
    """The layout with ``chain`` as its dense chain if the network really is one, else
    without, and the reason.

    ``chain`` is a candidate: dense layers in forward order. It is kept only when
    (1) every parameter leaf belongs to it, (2) the weights are 2-D and their sizes
    chain, and (3) permuting the hidden units at random leaves the outputs on ``x``
    unchanged (the symmetry weight matching relies on). Nothing is guessed.
    """
    from landscape import alignment

    plain = Layout(dict(weights), None)
    if len(chain) < 2:
        return plain, "fewer than two dense layers: no hidden units to permute"
    names = set(leaf_paths(params))
    used = {p for layer in chain for p in (layer.weight, layer.bias) if p is not None}
    if names != used:
        extra = sorted(names - used)[:3]
        return plain, f"parameters outside the dense layers ({', '.join(extra)})"
    candidate = Layout(dict(weights), tuple(chain))
    try:
        alignment.hidden_widths(params, layout=candidate)
    except ValueError as err:
        return plain, f"the dense layers do not chain ({err})"
    perms = alignment.random_permutations(params, key=jax.random.key(0), layout=candidate)
    moved = alignment.apply_permutation(params, perms, layout=candidate)
    y0, y1 = np.asarray(outputs(params, x)), np.asarray(outputs(moved, x))
    tol = 1e-9 if y0.dtype == np.float64 else 1e-4
    scale = max(float(np.max(np.abs(y0))), 1e-30)
    if not np.all(np.isfinite(y0)) or float(np.max(np.abs(y1 - y0))) > tol * scale:
        return plain, "permuting hidden units changes the outputs (not an elementwise chain)"
    return candidate, None


def cast_floats(tree: PyTree, dtype) -> PyTree:
    """``tree`` with its floating-point leaves cast to ``dtype`` (other leaves as they are)."""
    def cast(leaf):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            return jnp.asarray(leaf, dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


def sample_inputs(data, num: int = 8) -> jax.Array:
    """A few training inputs, for tracing shapes and checking symmetries."""
    return jnp.asarray(np.asarray(data.x_train[:num]))
