"""PySpark's RDD API on the engine: lazy datasets, their transformations and actions,
and the Context that starts or joins a cluster."""

from minibig.rdd.numeric import BoundedFloat

__all__ = ["BoundedFloat"]
