"""minibig: a small but real big-data engine in Python.

>>> from minibig import Context
"""

from minibig.core.accumulators import Accumulator, AccumulatorParam
from minibig.core.broadcast import Broadcast
from minibig.conf import Conf
from minibig.rdd.context import Context
from minibig.rdd.base import RDD
from minibig.core.storagelevel import StorageLevel

__all__ = ["Context", "Conf", "RDD", "StorageLevel", "Broadcast", "Accumulator", "AccumulatorParam"]
__version__ = "0.1.0"
