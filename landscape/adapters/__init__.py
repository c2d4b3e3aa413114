"""A user's model, in the framework it was written in, as a :class:`~landscape.problem.Problem`.

One small module per framework, each importing its framework only when called:

- :func:`landscape.adapters.flax_linen.from_linen`: a Flax Linen module
  (``params`` and ``batch_stats`` collections, a ``train`` argument, dropout rngs);
- :func:`landscape.adapters.flax_nnx.from_nnx`: a Flax NNX module (split into
  ``Param``, ``BatchStat`` and the rest, RNG state included);
- :func:`landscape.adapters.equinox.from_equinox`: an Equinox module
  (``eqx.partition(model, eqx.is_inexact_array)``, ``eqx.nn.State`` for BatchNorm);
- plain ``(init, apply)`` pairs: :func:`landscape.problem.from_functions`.

Each adapter fills :attr:`Problem.layout <landscape.problem.Problem.layout>`
where it can (the weight leaves and their output axis; a dense chain only when
the network is a chain of dense layers whose hidden units can be permuted,
checked numerically) and records the framework and its version in
:attr:`Problem.info <landscape.problem.Problem.info>`.
"""

from landscape.problem import from_functions

__all__ = ["from_functions"]
