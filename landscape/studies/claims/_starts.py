"""Starting parameters for many runs, drawn outside the training program.

:func:`landscape.train.train_seeds` initialises each run inside its compiled
program when no ``init_params`` are given, so every training configuration
compiles the random-number generation of the model's initialiser again, which
costs seconds on a CPU. :func:`stacked_init` draws the same parameters eagerly,
one run at a time: each distinct weight shape is compiled once per process and
shared by every configuration, depth and run count that uses it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from landscape import models


def stacked_init(model: models.Model, keys: jax.Array):
    """``model``'s parameters for every run key, stacked on a leading axis.

    Run ``i`` draws from ``jax.random.split(keys[i], 3)[0]``, the initialisation key
    :func:`landscape.train.train` derives from ``keys[i]``, so passing the result as
    ``init_params`` to ``train_seeds(..., keys=keys)`` trains the same runs as
    leaving it out, up to rounding (an eager draw may differ from the compiled one
    in the last bit).
    """
    runs = [model.init(jax.random.split(k, 3)[0]) for k in keys]
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *runs)
