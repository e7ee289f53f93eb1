"""StorageLevel: where `persist` keeps a dataset's partitions (PySpark's names).

`deserialized` says what a memory block is, and minibig keeps it so (see
`minibig.core.cache`): False (every level but MEMORY_AND_DISK_DESER, as in
PySpark) keeps the records pickled (or, for lists of immutables, as tuples),
each task reading a fresh copy, so no task can change what a later one
reads; True keeps the record objects
themselves, shared by the tasks that read them: faster, and mutating them
changes the cache. Disk blocks are always pickled.
"""

from __future__ import annotations


class StorageLevel:
    """Flags for persisting a dataset: disk, memory, off-heap, deserialised, replicas.

    `replication` above 1 is accepted for PySpark compatibility; each block is kept once.

    >>> StorageLevel.MEMORY_AND_DISK
    StorageLevel(True, True, False, False, 1)
    >>> str(StorageLevel.MEMORY_ONLY)
    'Memory Serialized 1x Replicated'
    """

    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool, deserialized: bool,
                 replication: int = 1):
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def __repr__(self) -> str:
        return (f"StorageLevel({self.useDisk}, {self.useMemory}, {self.useOffHeap}, "
                f"{self.deserialized}, {self.replication})")

    def __str__(self) -> str:
        parts = [name for flag, name in ((self.useDisk, "Disk"), (self.useMemory, "Memory"),
                                         (self.useOffHeap, "OffHeap")) if flag]
        parts.append("Deserialized" if self.deserialized else "Serialized")
        return " ".join(parts) + f" {self.replication}x Replicated"

    def __eq__(self, other) -> bool:
        return isinstance(other, StorageLevel) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


StorageLevel.NONE = StorageLevel(False, False, False, False)
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
