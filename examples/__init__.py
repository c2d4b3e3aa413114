"""Runnable examples: a user's own Flax or Equinox model in landscape's studies."""
