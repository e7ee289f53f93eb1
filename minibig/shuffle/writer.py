"""The map side of a shuffle: combine, partition, serialise, write.

With an aggregator and map-side combine (reduceByKey, combineByKey,
aggregateByKey, foldByKey) the task first folds its records into one
combiner per key, so only one record per distinct key leaves the task; then
records are split by the partitioner into one bucket per reducer, and each
bucket is pickled as a single list (one `pickle.dumps` per bucket, not per
record).
"""

from __future__ import annotations

import pickle

from minibig.shuffle.blocks import write_output


_MISSING = object()


def combine_values(records, aggregator) -> dict:
    """Fold (key, value) records into {key: combiner}."""
    create, merge = aggregator.create_combiner, aggregator.merge_value
    combined = {}
    get = combined.get
    for key, value in records:
        old = get(key, _MISSING)
        combined[key] = create(value) if old is _MISSING else merge(old, value)
    return combined


def merge_combiners(batches, aggregator) -> dict:
    """Fold batches of (key, combiner) pairs into {key: combiner}."""
    merge = aggregator.merge_combiners
    combined = {}
    get = combined.get
    for batch in batches:
        for key, comb in batch:
            old = get(key, _MISSING)
            combined[key] = comb if old is _MISSING else merge(old, comb)
    return combined


def partition_records(records, partitioner) -> list[list]:
    """Split (key, value) records into one list per reduce partition."""
    n = partitioner.numPartitions
    if n == 1:
        return [list(records)]
    buckets = [[] for _ in range(n)]
    appenders = [b.append for b in buckets]
    part = partitioner.partition_of
    for record in records:
        appenders[part(record[0])](record)
    return buckets


def write_shuffle(records, dep, work_dir: str, shuffle_key: str, map_index: int) -> list[int]:
    """Run the map side of `dep` over `records`; return each segment's size."""
    if dep.aggregator is not None and dep.map_side_combine:
        records = combine_values(records, dep.aggregator).items()
    buckets = partition_records(records, dep.partitioner)
    segments = [pickle.dumps(b, protocol=5) if b else b"" for b in buckets]
    return write_output(work_dir, shuffle_key, map_index, segments)
