"""minibig: a small but real big-data engine in Python.

>>> from minibig import Context
"""

from minibig.conf import Conf
from minibig.context import Context
from minibig.rdd import RDD

__all__ = ["Context", "Conf", "RDD"]
__version__ = "0.1.0"
