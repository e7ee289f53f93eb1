"""minibig: a small but real big-data engine in Python.

>>> from minibig import Context

The public names load on first use (PEP 562), so `import minibig` stays
cheap: a command that only prints its help, or a worker that has not run a
task yet, does not pay for the RDD API, ZeroMQ or numpy. Asking for
`Context` starts the embedded cluster's zygote in the background first
(`minibig.cluster.forking.prewarm`), so that its start overlaps the
import of the RDD API.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "Context": "minibig.rdd.context",
    "Conf": "minibig.conf",
    "RDD": "minibig.rdd.base",
    "StorageLevel": "minibig.core.storagelevel",
    "Broadcast": "minibig.core.broadcast",
    "Accumulator": "minibig.core.accumulators",
    "AccumulatorParam": "minibig.core.accumulators",
}

__all__ = ["Context", "Conf", "RDD", "StorageLevel", "Broadcast", "Accumulator", "AccumulatorParam"]
__version__ = "0.1.0"


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'minibig' has no attribute {name!r}")
    if name == "Context":
        # A driver about to make a Context: the embedded cluster's zygote starts now,
        # its interpreter and imports overlapping the driver's (cluster/forking.py).
        from minibig.cluster.forking import prewarm
        prewarm()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value               # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
