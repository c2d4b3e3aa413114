"""Work split over devices: a 1-D mesh, padding of a batch axis, a sharded sum and map.

Data chunks, grid points and seeds are batch axes. With several devices the package
splits such an axis over a 1-D :class:`jax.sharding.Mesh` named :data:`AXIS`: each
device works through its block of rows in a fixed order (``lax.scan`` / ``lax.map``
inside :func:`jax.shard_map`) and a sum is combined with one ``psum``. With one device
(:func:`mesh` gives ``None``) the same functions run the plain single-device code, so
nothing changes for a user with one device.

An axis whose length is not a multiple of the device count is padded by repeating its
last row (:func:`pad`); a sum gives padded rows zero weight and a map drops their
outputs, so no example is lost or counted twice.

Several hosts: call ``jax.distributed.initialize()`` on each first; ``jax.devices()``
then lists the devices of every host and the same code splits over all of them.

Examples
--------
>>> import jax.numpy as jnp
>>> m = mesh(jax.devices()[:1])  # one device: nothing is sharded
>>> m is None
True
>>> float(sum_rows(lambda row: row[0] ** 2, jnp.arange(5.0)[:, None], weights=None, mesh=m))
30.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from landscape.typing import Array, PyTree

__all__ = ["AXIS", "devices_of", "map_rows", "mesh", "num_devices", "pad", "put", "sum_rows"]

AXIS = "batch"  # the name of the one mesh axis


def _shard_map(fn, mesh, in_specs, out_specs):
    """``shard_map`` with replication checks off: inside, ``fn`` differentiates values it
    closes over (parameters) per device, and the one ``psum`` is ours. With the checks
    on, JAX would sum such gradients over the devices already inside the block."""
    if hasattr(jax, "shard_map"):
        return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                             check_vma=False)
    from jax.experimental.shard_map import shard_map  # jax < 0.6

    return shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)


@functools.lru_cache(maxsize=32)
def _mesh(devices: tuple, axis: str) -> Mesh:
    return Mesh(np.asarray(devices, dtype=object), (axis,))


def mesh(devices: Sequence[jax.Device] | None = None, *, axis: str = AXIS) -> Mesh | None:
    """A 1-D mesh named ``axis`` over ``devices`` (default ``jax.devices()``), or ``None``
    when there is only one device (nothing to split). The same devices give the same
    (hashable) mesh, so it can be a static argument of a jitted function."""
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices: need at least one device")
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices: each device may appear once, got {list(devices)}")
    return None if len(devices) == 1 else _mesh(devices, axis)


def devices_of(mesh: Mesh | None) -> tuple:
    """The devices of ``mesh`` (the first device alone for ``None``): what to pass as
    ``devices`` to get ``mesh`` back from :func:`mesh`."""
    return tuple(jax.devices()[:1]) if mesh is None else tuple(mesh.devices.flat)


def num_devices(mesh: Mesh | None) -> int:
    """The number of devices of ``mesh`` (1 for ``None``)."""
    return 1 if mesh is None else int(mesh.devices.size)


def pad(tree: PyTree, multiple: int) -> tuple[PyTree, Array]:
    """``tree`` with its leading axis padded to a multiple of ``multiple`` by repeating
    the last row, and weights ``(padded,)``: 1 for a real row, 0 for a copy."""
    n = jax.tree_util.tree_leaves(tree)[0].shape[0]
    padded = -(-n // multiple) * multiple
    weights = (np.arange(padded) < n).astype(np.int32)
    if padded == n:
        return tree, jnp.asarray(weights)
    index = np.minimum(np.arange(padded), n - 1)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[index], tree), jnp.asarray(weights)


def put(tree: PyTree, mesh: Mesh | None, *, split: bool) -> PyTree:
    """``tree`` placed on ``mesh``: its leading axis split over the devices (``split``)
    or replicated on each. Unchanged without a mesh."""
    if mesh is None:
        return tree
    spec = P(mesh.axis_names[0]) if split else P()
    return jax.device_put(tree, NamedSharding(mesh, spec))


def _sum_block(fn, rows, weights):
    """``sum_i w_i fn(rows_i)`` over a block, in order; rows of weight 0 add nothing (even
    when ``fn`` is not finite there). The first row starts the sum, so the carry has
    the type of ``fn``'s output."""

    def term(row, w):
        out = fn(row)
        if w is None:
            return out
        return jax.tree_util.tree_map(lambda o: jnp.where(w > 0, o, jnp.zeros_like(o)), out)

    first = term(jax.tree_util.tree_map(lambda a: a[0], rows),
                 None if weights is None else weights[0])
    rest = jax.tree_util.tree_map(lambda a: a[1:], rows)

    def step(total, inputs):
        row, w = inputs
        return jax.tree_util.tree_map(jnp.add, total, term(row, w)), None

    total, _ = jax.lax.scan(step, first, (rest, None if weights is None else weights[1:]))
    return total


def sum_rows(fn: Callable, rows: PyTree, *, weights: Array | None, mesh: Mesh | None):
    """``sum_i fn(rows[i])`` over the leading axis of ``rows``, the rows of zero ``weights``
    (padding, see :func:`pad`) left out; ``weights=None`` counts every row.

    With a mesh the rows are split over its devices (their number must divide the
    number of rows): each device adds its block in order with ``lax.scan`` and the
    blocks are combined with ``psum``. Without one, one ``lax.scan`` over all rows.
    Deterministic either way; ``fn`` may close over traced values (they are replicated).
    """
    if mesh is None:
        return _sum_block(fn, rows, weights)
    axis = mesh.axis_names[0]
    _check_divisible(rows, mesh)

    def local(rows, *weights):
        return jax.lax.psum(_sum_block(fn, rows, weights[0] if weights else None), axis)

    args = (rows,) if weights is None else (rows, weights)
    return _shard_map(local, mesh, (P(axis),) * len(args), P())(*args)


def map_rows(fn: Callable, rows: PyTree, *, mesh: Mesh | None):
    """``fn(rows)`` for a function that maps a block of rows to a block of outputs (a
    ``vmap`` or ``lax.map`` over its rows), with the rows split over the devices of
    ``mesh`` (their number must divide the number of rows; :func:`pad` first) and the
    outputs gathered in order. Without a mesh, ``fn(rows)``."""
    if mesh is None:
        return fn(rows)
    _check_divisible(rows, mesh)
    spec = P(mesh.axis_names[0])
    return _shard_map(fn, mesh, (spec,), spec)(rows)


def _check_divisible(rows, mesh):
    n, d = jax.tree_util.tree_leaves(rows)[0].shape[0], num_devices(mesh)
    if n % d:
        raise ValueError(f"rows: {n} rows do not split over {d} devices; pad them first")
