"""MapReduce with mrjob's job API, run as stages of minibig's engine.

An mrjob job runs by changing its import::

    from minibig.mapreduce import MRJob, MRStep

Design. A job is a class (`job.MRJob`) whose steps (`step.MRStep`) name
its mapper, combiner and reducer. The runner (`runner.MRJobRunner`)
compiles the steps into one lineage of the engine's datasets: the input is
`textFile`; each step is a `mapPartitionsWithIndex` that runs the mapper with
its hooks once per task, groups the pairs by key and runs the combiner over
each key's values (`tasks.MapTask`); the engine's own shuffle
(`partitionBy`, keys hashed with `portable_hash`) sends each key to one of
the step's reducers; a second `mapPartitionsWithIndex` merges what every map
task sent, orders the keys by their encoded form, as Hadoop sorts serialized
keys, and runs the reducer with its hooks (`tasks.ReduceTask`). Steps
follow each other inside the same tasks, and one action runs the whole job,
so there is no second scheduler or shuffle here.

What travels between phases follows INTERNAL_PROTOCOL as Hadoop Streaming
would (tuples become lists with JSON, keys group by their encoding), but the
default JSON path skips encoding for the pairs a JSON round trip leaves
unchanged (`internal.JSONPath`). Protocols are in `protocols`, the command
line in `options`, counters (engine accumulators) in `counters`, and what
`jobconf_from_env` finds in a task (its jobconf, its input file) in `taskenv`.

>>> class MRLetters(MRJob):
...     def mapper(self, _, line):
...         for ch in line:
...             yield ch, 1
...     def reducer(self, ch, ones):
...         yield ch, sum(ones)
>>> job = MRLetters(args=["-r", "inline"]).sandbox(stdin=[b"abca\\n", b"b\\n"])
>>> with job.make_runner() as runner:
...     runner.run()
...     sorted(job.parse_output(runner.cat_output()))
[('a', 2), ('b', 2), ('c', 1)]
"""

from minibig.mapreduce.job import MRJob
from minibig.mapreduce.protocols import (BytesProtocol, BytesValueProtocol, JSONProtocol,
                                         JSONValueProtocol, PickleProtocol, PickleValueProtocol,
                                         RawProtocol, RawValueProtocol, ReprProtocol,
                                         ReprValueProtocol, StandardJSONProtocol,
                                         StandardJSONValueProtocol, TextProtocol,
                                         TextValueProtocol)
from minibig.mapreduce.runner import MRJobRunner
from minibig.mapreduce.step import MRStep
from minibig.mapreduce.taskenv import jobconf_from_env

__all__ = [
    "MRJob", "MRStep", "MRJobRunner", "jobconf_from_env",
    "JSONProtocol", "JSONValueProtocol", "PickleProtocol", "PickleValueProtocol",
    "RawProtocol", "RawValueProtocol", "ReprProtocol", "ReprValueProtocol",
    "BytesProtocol", "BytesValueProtocol", "TextProtocol", "TextValueProtocol",
    "StandardJSONProtocol", "StandardJSONValueProtocol",
]
