"""Argument checks shared by every module, each raising an error that names the argument.

One check per kind of input, written once: integers and choices, tolerances, PRNG
keys, floating-point parameters, a scalar loss, matching dtypes, a non-empty batch,
and the memory a Krylov basis needs against the memory available now.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from landscape.typing import PyTree

__all__ = [
    "available_memory",
    "check_choice",
    "check_dtype",
    "check_float",
    "check_floating_params",
    "check_int",
    "check_key",
    "check_memory",
    "check_nonempty",
    "check_scalar_loss",
    "is_traced",
    "num_examples",
]


def check_int(field: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``; a ``ValueError`` naming ``field`` unless it is an integer
    (not a bool) within ``[minimum, maximum]``.

    >>> check_int("num_iters", 5, minimum=1)
    5
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{field}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{field}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{field}: must be at most {maximum}, got {value}")
    return int(value)


def check_float(field: str, value, *, minimum: float | None = None, positive: bool = False,
                maximum: float | None = None) -> float:
    """``value`` as a finite ``float`` (at least ``minimum``, above 0 when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{field}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{field}: must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{field}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{field}: must be at most {maximum}, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{field}: must be positive, got {value}")
    return value


def check_choice(field: str, value, choices: Sequence):
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming ``field``."""
    if value not in choices:
        raise ValueError(f"{field}: unknown {value!r}; choose one of {tuple(choices)}")
    return value


def check_key(key, field: str = "key"):
    """``key`` if it is a PRNG key (``jax.random.key`` or a raw ``PRNGKey``, also as a
    tracer under jit and vmap), else a ``TypeError`` naming ``field``.

    >>> _ = check_key(jax.random.key(0))
    >>> check_key(0)
    Traceback (most recent call last):
    ...
    TypeError: key: expected a PRNG key such as jax.random.key(0), got 0 (int)
    """
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return key
    if dtype == np.uint32 and jnp.ndim(key) >= 1 and jnp.shape(key)[-1] == 2:
        return key
    raise TypeError(
        f"{field}: expected a PRNG key such as jax.random.key(0), got {key!r} "
        f"({type(key).__name__})"
    )


def check_floating_params(params: PyTree, field: str = "params") -> None:
    """A ``TypeError`` naming ``field`` unless every leaf of ``params`` is a floating-point
    array and there is at least one."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"{field}: has no array leaves")
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"{field}: every leaf must be a floating-point array to be differentiated; "
                f"leaf {jax.tree_util.keystr(path) or '(root)'} has dtype {dtype}"
            )


def check_scalar_loss(loss: Callable, params: PyTree, batch, field: str = "loss") -> None:
    """A ``ValueError`` naming ``field`` unless ``loss(params, batch)`` returns a real
    scalar (checked on shapes only, nothing is computed)."""
    try:
        out = jax.eval_shape(loss, params, batch)
    except Exception as err:  # the user's function failed: say so, then show why
        raise ValueError(f"{field}: calling loss(params, batch) failed: {err}") from err
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"{field}: must return a floating-point scalar (the mean loss over the batch), "
            f"got {out!r}"
        )


def check_dtype(field: str, value, dtype) -> None:
    """A ``TypeError`` naming ``field`` unless ``value`` has exactly ``dtype`` (no silent
    up- or down-cast between float32 and float64)."""
    got = jnp.result_type(value)
    if got != jnp.dtype(dtype):
        raise TypeError(
            f"{field}: dtype {got} does not match the operator's {jnp.dtype(dtype)}; "
            f"create it with dtype={jnp.dtype(dtype).name} (nothing is cast silently)"
        )


def is_traced(*trees) -> bool:
    """True when any leaf is a tracer (under jit or vmap its value is unknown)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(trees))


def num_examples(batch) -> int:
    """Length of the leading axis of ``batch`` (every leaf must agree)."""
    leaves = jax.tree_util.tree_leaves(batch)
    if not leaves:
        raise ValueError("batch: has no array leaves")
    sizes = {int(jnp.shape(a)[0]) if jnp.ndim(a) else -1 for a in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(f"batch: every leaf needs the same leading (example) axis, got {sizes}")
    return sizes.pop()


def check_nonempty(batch, field: str = "batch") -> int:
    """The number of examples of ``batch``; a ``ValueError`` naming ``field`` when it is 0.
    ``None`` (a loss that needs no data) counts as one example."""
    if batch is None or not jax.tree_util.tree_leaves(batch):
        return 1
    try:
        n = num_examples(batch)
    except ValueError:
        return 1  # not a batch of examples (e.g. coefficients): nothing to count
    if n == 0:
        raise ValueError(f"{field}: has no examples; a loss over no data is undefined")
    return n


# ----------------------------------------------------------------------------- memory


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None


def available_memory(device=None) -> int | None:
    """Bytes available now where arrays will live: on an accelerator its free memory
    (``bytes_limit - bytes_in_use`` from ``memory_stats()``), on the host
    ``MemAvailable`` of ``/proc/meminfo`` (or ``os.sysconf``). ``None`` when unknown."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # some backends do not report
            stats = {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return _meminfo_available()


def check_memory(num_vectors: int, size: int, dtype, *, field: str = "num_iters",
                 available: int | None = None) -> None:
    """A ``MemoryError`` when ``num_vectors`` vectors of ``size`` entries of ``dtype`` need
    more than the memory available now (:func:`available_memory`, or ``available``
    bytes), with both numbers in the message; ``field`` names the setting to lower.

    >>> check_memory(10, 1000, "float64", available=10**6)
    >>> check_memory(10**3, 10**6, "float32", available=10**9)
    Traceback (most recent call last):
    ...
    MemoryError: num_iters: 1000 vectors of 1000000 float32 entries need 4000000000 bytes \
(3.73 GiB), more than the 1000000000 bytes (0.93 GiB) available now; use fewer \
iterations or a smaller parameter subset
    """
    need = int(num_vectors) * int(size) * np.dtype(dtype).itemsize
    if available is None:
        available = available_memory()
    if available is not None and need > available:
        raise MemoryError(
            f"{field}: {num_vectors} vectors of {size} {np.dtype(dtype).name} entries need "
            f"{need} bytes ({need / 2**30:.2f} GiB), more than the {available} bytes "
            f"({available / 2**30:.2f} GiB) available now; use fewer iterations or a "
            f"smaller parameter subset"
        )
