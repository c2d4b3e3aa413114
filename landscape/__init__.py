"""landscape: loss landscapes of neural networks in JAX.

Hessian-vector products and a Lanczos eigen-solver for the curvature at the
points training reaches; critical-point classification; seed, batch-size and
landscape studies; and a report that checks training folklore by experiment.

The modules, in the order data flows through them: ``data``, ``models``,
``objectives``, ``curvature``, ``lanczos``, ``critical``, ``train``, ``noise``,
``surfaces``, ``studies``; ``results`` and ``plots`` write what studies produce.
"""

from landscape import curvature, data, models, objectives
from landscape.curvature import (
    FlatOperator,
    dataset_hessian_operator,
    dense_hessian,
    grad_norm,
    hessian_operator,
    hutchinson_trace,
    hvp,
)
from landscape.data import Batch, Dataset
from landscape.models import Model, cnn1d, deep_linear, mlp, num_params
from landscape.objectives import make_loss, make_metrics

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Dataset",
    "FlatOperator",
    "Model",
    "cnn1d",
    "curvature",
    "data",
    "dataset_hessian_operator",
    "deep_linear",
    "dense_hessian",
    "grad_norm",
    "hessian_operator",
    "hutchinson_trace",
    "hvp",
    "make_loss",
    "make_metrics",
    "mlp",
    "models",
    "num_params",
    "objectives",
]
