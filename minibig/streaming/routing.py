"""Spreading one instance's output over the instances of a consumer.

A ``Route`` is one edge of the plan seen from one producing instance. Its
``split(items)`` returns ``[(target_instance, items), ...]``:

- ``forward``: everything to the instance with the producer's index;
- ``hash``: each record to ``portable_hash(key) % parallelism`` (the key is
  the first field of the record's ``(key, value)`` value), the same in every
  process, so the local and the cluster runtimes agree;
- ``rebalance``: records round robin.

Watermarks go to every target, in their place among the records; two
watermarks in a row to one target collapse into the later (nothing was
between them, so the target would act the same).
"""

from __future__ import annotations

from minibig.shuffle.hashing import portable_hash
from minibig.streaming.elements import KeyedBatch
from minibig.streaming.errors import StreamError

_CACHE_LIMIT = 1 << 16


class Route:
    """How one producer instance's ``output`` reaches consumer ``node``'s instances."""

    def __init__(self, node: int, name: str, output: str, partitioning: str,
                 parallelism: int, producer_index: int, channels: list[int]):
        self.node = node
        self.name = name                    # the consumer's name, for errors
        self.output = output
        self.partitioning = partitioning
        self.parallelism = parallelism
        self.producer_index = producer_index
        self.channels = channels            # channels[target] = this producer's channel there
        self._next = producer_index         # round-robin position
        self._targets: dict = {}            # key -> target, a bounded cache of portable_hash

    def targets(self) -> list[int]:
        """Every instance this route can reach."""
        if self.partitioning == "forward":
            return [self.producer_index]
        return list(range(self.parallelism))

    def split(self, items: list) -> list[tuple[int, list]]:
        """``items`` spread over the targets."""
        if self.partitioning == "forward":
            return [(self.producer_index, items)]
        if self.parallelism == 1:
            return [(0, items)]
        if self.partitioning == "hash":
            return self._split_by_key(items)
        return self._split_round_robin(items)

    def _split_by_key(self, items):
        parts = [[] for _ in range(self.parallelism)]
        cache = self._targets
        n = self.parallelism
        item = None
        try:
            for item in items:
                if type(item) is tuple:
                    key = item[1][0]
                    target = cache.get(key)
                    if target is None:
                        if len(cache) >= _CACHE_LIMIT:
                            cache.clear()
                        target = cache[key] = portable_hash(key) % n
                    parts[target].append(item)
                else:
                    _broadcast_watermark(parts, item)
        except (TypeError, IndexError) as exc:
            raise StreamError(self.name, item, f"cannot route a record without a (key, value) pair: {exc}") from exc
        return [(target, part) for target, part in enumerate(parts) if part]

    def key_and_split(self, items: list, key_fn) -> list[tuple[int, KeyedBatch]] | None:
        """``split`` of what ``key_by(key_fn)`` makes of ``items``, in one pass, in columns.

        A key_by chained to a hash exchange (the usual ``key_by -> window``)
        keys each record and routes it in the same loop, instead of building
        the keyed batch and walking it again: the cache lookup that finds the
        target also checks that the key is hashable. Each target's part comes
        as ``KeyedBatch`` segments, in order, a segment ending where a
        watermark was (the watermark goes to every target; two in a row to one
        target collapse into the later, as ``split`` does). Any failure (the
        key function raises, a key that cannot be hashed or has no portable
        hash) is returned as None: the caller then runs the two steps apart,
        which name the record and the operator as they always did."""
        n = self.parallelism
        cache = self._targets
        done: list[list] = [[] for _ in range(n)]          # closed segments per target
        open_ = [KeyedBatch() for _ in range(n)]
        stamp, key_of, value_of = _appenders(open_)
        try:
            for item in items:
                if type(item) is tuple:
                    value = item[1]
                    key = key_fn(value)
                    target = cache.get(key)
                    if target is None:
                        if len(cache) >= _CACHE_LIMIT:
                            cache.clear()
                        target = cache[key] = portable_hash(key) % n
                    stamp[target](item[0])
                    key_of[target](key)
                    value_of[target](value)
                else:
                    for target in range(n):
                        segment = open_[target]
                        if segment.timestamps or not done[target]:
                            segment.watermark = item
                            done[target].append(segment)
                            open_[target] = KeyedBatch()
                        else:                               # nothing since its last watermark
                            done[target][-1].watermark = item
                    stamp, key_of, value_of = _appenders(open_)
        except Exception:
            return None
        return [(target, segment) for target in range(n)
                for segment in (done[target] + [open_[target]] if open_[target].timestamps else done[target])]

    def _split_round_robin(self, items):
        parts = [[] for _ in range(self.parallelism)]
        n = self.parallelism
        position = self._next
        for item in items:
            if type(item) is tuple:
                parts[position].append(item)
                position = (position + 1) % n
            else:
                _broadcast_watermark(parts, item)
        self._next = position
        return [(target, part) for target, part in enumerate(parts) if part]


def _broadcast_watermark(parts: list[list], watermark) -> None:
    for part in parts:
        if part and type(part[-1]) is not tuple:
            part[-1] = watermark
        else:
            part.append(watermark)


def _appenders(segments: list[KeyedBatch]) -> tuple[list, list, list]:
    """The bound ``append`` of each segment's three columns (one call per field per record)."""
    return ([s.timestamps.append for s in segments], [s.keys.append for s in segments],
            [s.values.append for s in segments])
