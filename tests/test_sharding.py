"""Work split over devices: the helpers on one device, and the data-set Hessian, Lanczos,
noise scales and a landscape grid on four forced host devices against one device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import curvature, sharding, status

HERE = Path(__file__).parent


def test_one_device_is_no_mesh_and_runs_the_plain_code():
    assert sharding.mesh(jax.devices()[:1]) is None
    assert sharding.num_devices(None) == 1
    assert sharding.devices_of(None) == tuple(jax.devices()[:1])
    rows = jnp.arange(10.0)[:, None]
    assert float(sharding.sum_rows(lambda r: r[0], rows, weights=None, mesh=None)) == 45.0
    np.testing.assert_array_equal(sharding.map_rows(lambda b: 2 * b, rows, mesh=None), 2 * rows)
    with pytest.raises(ValueError, match="^devices:"):
        sharding.mesh([jax.devices()[0]] * 2)
    with pytest.raises(ValueError, match="^devices:"):
        sharding.mesh([])


def test_pad_repeats_the_last_row_with_zero_weight():
    tree = {"x": jnp.arange(10.0).reshape(5, 2), "y": np.arange(5)}
    padded, weights = sharding.pad(tree, 4)
    assert padded["x"].shape == (8, 2) and padded["y"].shape == (8,)
    np.testing.assert_array_equal(padded["y"], [0, 1, 2, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(weights, [1, 1, 1, 1, 1, 0, 0, 0])
    # padded rows add nothing to a weighted sum
    total = sharding.sum_rows(lambda r: r["x"], padded, weights=weights, mesh=None)
    np.testing.assert_array_equal(total, [20.0, 25.0])
    assert int(sharding.sum_rows(lambda r: r["y"], padded, weights=None, mesh=None)) == 22
    same, ones = sharding.pad(tree, 5)
    assert same is tree and np.all(np.asarray(ones) == 1)


def test_chunked_mean_with_a_remainder_counts_every_example_once():
    x = jnp.arange(11.0)
    for size in (3, 11):  # 3 chunks and 2 left over; one chunk
        assert float(curvature.chunked_mean(jnp.mean, x, batch_size=size)) == pytest.approx(5.0)
    got = curvature.chunked_mean(jnp.sum, x, batch_size=4, reduction="sum")
    assert float(got) == pytest.approx(55.0)


@pytest.mark.slow
def test_four_host_devices_agree_with_one_device(tmp_path):
    """One subprocess with four forced CPU devices, float64, 43 examples (not a multiple
    of 4): every sharded result equals the single-device one to 1e-12 of its scale."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env.update(JAX_PLATFORMS="cpu", JAX_ENABLE_X64="1")
    out = tmp_path / "sharding.json"
    proc = subprocess.run([sys.executable, "-W", "error", str(HERE / "_sharding_worker.py"),
                           str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device_count"] == 4
    diffs = report["diffs"]
    assert diffs.pop("lanczos_status") <= status.BREAKDOWN  # full Krylov space: breakdown
    assert diffs.pop("grid_2d_shape_ok") == 1.0
    expected = {"hessian_hvp", "hessian_hvp_vs_whole_batch", "lanczos_eigvals",
                "simple_noise_scale", "per_example_grads", "grid_2d"}
    assert set(diffs) == expected
    for name, diff in diffs.items():
        assert diff < 1e-12, (name, diff)  # the same sums in another order: rounding only
    assert set(report["devices_used"].values()) == {4}, report["devices_used"]
