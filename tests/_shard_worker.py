"""Subprocess for test_train: train_seeds sharded over forced host devices vs unsharded.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=4; writes a JSON report.
"""

import json
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from landscape import data, models  # noqa: E402
from landscape.problem import from_model  # noqa: E402
from landscape.train import TrainConfig, train_seeds  # noqa: E402


def max_rel_diff(a, b):
    worst = 0.0
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        ok = np.isnan(x) & np.isnan(y)
        diff = np.where(ok, 0.0, np.abs(x - y) / np.maximum(np.abs(y), 1.0))
        worst = max(worst, float(diff.max()) if diff.size else 0.0)
    return worst


def main(path):
    ds = data.gaussian_mixture(num_samples=200, num_classes=3, dim=4, seed=0).astype(np.float64)
    model = models.mlp(4, (8,), 3, dropout=0.1)
    config = TrainConfig(optimizer="momentum", learning_rate=0.1, num_steps=30, eval_every=10,
                         batch_size=16, record_params=True)
    cases = []
    for num_seeds in (6,):  # 6 seeds are padded to 8 on 4 devices
        keys = jax.random.split(jax.random.key(num_seeds), num_seeds)
        rates = np.linspace(0.05, 0.2, num_seeds)
        rates[-1] = 1e4  # one diverging seed
        prob = from_model(model, ds)
        sharded = train_seeds(prob, config, keys=keys, learning_rates=rates, shard=True,
                              progress=False)
        plain = train_seeds(prob, config, keys=keys, learning_rates=rates, shard=False,
                            progress=False)
        leaf = jax.tree_util.tree_leaves(sharded.params)[0]
        state_devices = jax.tree_util.tree_leaves(sharded.params)[0].sharding.device_set
        cases.append({
            "num_seeds": num_seeds,
            "devices_used": len(state_devices),
            "shape_ok": leaf.shape[0] == num_seeds
            and sharded.curves.train_loss.shape == (num_seeds, config.num_evals),
            "max_rel_diff": max_rel_diff(sharded, plain),
            "diverged_equal": bool(np.array_equal(sharded.diverged, plain.diverged))
            and bool(np.asarray(sharded.diverged)[-1]),
        })
    with open(path, "w") as f:
        json.dump({"device_count": jax.device_count(), "cases": cases}, f)


if __name__ == "__main__":
    main(sys.argv[1])
