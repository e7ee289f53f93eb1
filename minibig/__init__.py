"""minibig: a small but real big-data engine in Python.

>>> from minibig import Context
"""

from minibig.accumulators import Accumulator, AccumulatorParam
from minibig.broadcast import Broadcast
from minibig.conf import Conf
from minibig.context import Context
from minibig.rdd import RDD
from minibig.storagelevel import StorageLevel

__all__ = ["Context", "Conf", "RDD", "StorageLevel", "Broadcast", "Accumulator", "AccumulatorParam"]
__version__ = "0.1.0"
