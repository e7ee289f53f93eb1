"""Transport: the wire protocol between driver, master and workers, and its security (CurveZMQ).

The bottom layer: it knows frames and keys, nothing of tasks or datasets.
"""
