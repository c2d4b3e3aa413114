"""landscape: loss landscapes of neural networks in JAX.

Hessian-vector products and a Lanczos eigen-solver for the curvature at the
points training reaches; critical-point classification; seed, batch-size and
landscape studies; and a report that checks training folklore by experiment.

The modules, in the order data flows through them: ``data``, ``models``,
``objectives``, ``curvature``, ``lanczos``, ``critical``, ``train``, ``noise``,
``alignment``, ``surfaces``, ``studies``; ``results`` and ``plots`` write what
studies produce (``plots`` imports matplotlib, so it is imported on demand:
``from landscape import plots``).
"""

from landscape import (
    alignment,
    critical,
    curvature,
    data,
    lanczos,
    models,
    noise,
    objectives,
    results,
    surfaces,
    train,
)
from landscape.critical import Classification, FinderResult, classify, find_critical_point
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
from landscape.lanczos import LanczosResult, SpectralDensity, extreme_eigs, slq
from landscape.models import Model, cnn1d, deep_linear, mlp, num_params
from landscape.objectives import make_loss, make_metrics
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
    "extreme_eigs",
    "find_critical_point",
    "grad_norm",
    "hessian_operator",
    "hutchinson_trace",
    "hvp",
    "lanczos",
    "make_loss",
    "make_metrics",
    "mlp",
    "models",
    "noise",
    "num_params",
    "objectives",
    "results",
    "slq",
    "surfaces",
    "train",
    "train_seeds",
]
