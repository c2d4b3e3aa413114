"""Studies: each is a frozen config dataclass, ``run(config) -> result``, a figure
function and a script in ``scripts/``."""
