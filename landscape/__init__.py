"""landscape: loss landscapes of neural networks in JAX.

Hessian-vector products and a Lanczos eigen-solver for the curvature at the
points training reaches; critical-point classification; seed, batch-size and
landscape studies; and a report that checks training folklore by experiment.

The modules, in the order data flows through them: ``data``, ``models``,
``objectives``, ``curvature``, ``lanczos``, ``subsamples``, ``stochtrace``, ``minres``,
``critical``, ``train``, ``noise``, ``tradeoff``, ``alignment``, ``directions``,
``surfaces``, ``paths``, ``studies``; ``sharding`` splits batch axes over the devices;
``results`` and ``plots`` write what studies produce (``plots`` imports matplotlib, so
it is imported on demand: ``from landscape import plots``).
"""

from landscape import (
    alignment,
    critical,
    curvature,
    data,
    directions,
    lanczos,
    minres,
    models,
    noise,
    objectives,
    paths,
    results,
    sharding,
    status,
    stochtrace,
    subsamples,
    surfaces,
    tradeoff,
    train,
)
from landscape.critical import Classification, FinderResult, classify, find_critical_point
from landscape.curvature import (
    FlatOperator,
    dataset_hessian_operator,
    dense_hessian,
    fisher_operator,
    gauss_newton_operator,
    grad_norm,
    hessian_operator,
    hvp,
)
from landscape.data import Batch, Dataset
from landscape.lanczos import LanczosResult, extreme_eigs
from landscape.models import Model, cnn1d, deep_linear, mlp, num_params
from landscape.objectives import make_loss, make_metrics
from landscape.stochtrace import SpectralDensity, hutchinson_trace, hutchpp_trace, slq
from landscape.train import TrainConfig, TrainResult, train_seeds

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Classification",
    "Dataset",
    "FinderResult",
    "FlatOperator",
    "LanczosResult",
    "Model",
    "SpectralDensity",
    "TrainConfig",
    "TrainResult",
    "alignment",
    "classify",
    "cnn1d",
    "critical",
    "curvature",
    "data",
    "dataset_hessian_operator",
    "deep_linear",
    "dense_hessian",
    "directions",
    "extreme_eigs",
    "find_critical_point",
    "fisher_operator",
    "gauss_newton_operator",
    "grad_norm",
    "hessian_operator",
    "hutchinson_trace",
    "hutchpp_trace",
    "hvp",
    "lanczos",
    "make_loss",
    "make_metrics",
    "minres",
    "mlp",
    "models",
    "noise",
    "num_params",
    "objectives",
    "paths",
    "results",
    "sharding",
    "slq",
    "status",
    "stochtrace",
    "subsamples",
    "surfaces",
    "tradeoff",
    "train",
    "train_seeds",
]
