"""The engine core: plans, the DAG scheduler, tasks, block storage and memory,
shared variables, serialization and output commit.

It runs tasks without knowing which API made them (see `minibig.core.task`),
and sits on the shuffle and the transport; the cluster runtime runs its tasks,
and the APIs (`minibig.rdd`, `minibig.mapreduce`, `minibig.graph`,
`minibig.streaming`) build on it.
"""
