"""Type aliases shared by every module: ``PyTree``, ``Array``, ``Key``, ``Matvec``.

They document intent at the public surface; nothing checks them at run time (the
checks that matter live in :mod:`landscape._checks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

__all__ = ["Array", "Key", "Matvec", "PyTree"]

PyTree = Any
"""Nested lists, tuples, dicts and NamedTuples of arrays (parameters, batches)."""

Array = jax.Array

Key = jax.Array
"""A PRNG key: ``jax.random.key(seed)`` (typed) or ``jax.random.PRNGKey(seed)`` (raw uint32)."""

Matvec = Callable[..., jax.Array]
"""``matvec(v, *args) -> H v`` on flat vectors of shape ``(n,)``."""
