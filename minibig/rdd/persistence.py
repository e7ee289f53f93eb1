"""persist/cache/unpersist: keeping a dataset's partitions on the workers.

Mixed into `RDD`. Persisting only marks the dataset; the first task that
computes a partition keeps it in its worker's block store
(`minibig.core.cache.BlockStore`), and later tasks on that worker read it from
there (serialized, unless the level says deserialized: see
`minibig.core.storagelevel`). The master learns where blocks are and
prefers those workers when it schedules tasks that read them.
"""

from __future__ import annotations

from minibig.core.storagelevel import StorageLevel
from minibig.core.task import block_prefix


class PersistenceMixin:
    """cache, persist, unpersist, getStorageLevel and is_cached."""

    _storage_level = StorageLevel.NONE
    is_cached = False

    def cache(self):
        """Keep the partitions in the workers' memory once computed (MEMORY_ONLY).

        >>> rdd = sc.parallelize([1, 2, 3]).cache()
        >>> rdd.is_cached, str(rdd.getStorageLevel())
        (True, 'Memory Serialized 1x Replicated')
        """
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY):
        """Keep the partitions once computed, as `storageLevel` says.

        >>> from minibig.core.storagelevel import StorageLevel
        >>> rdd = sc.parallelize(["b", "a", "c"]).persist(StorageLevel.MEMORY_AND_DISK)
        >>> rdd.is_cached
        True
        """
        current = self._storage_level
        if current != StorageLevel.NONE and current != storageLevel:
            raise ValueError(f"Cannot change the storage level of {self.describe()} from "
                             f"{current} to {storageLevel}; unpersist it first")
        if current == StorageLevel.NONE and self.ctx._cleaner is not None:
            self.ctx._cleaner.track_persisted(self)
        self._storage_level = storageLevel
        self.is_cached = True
        return self

    def unpersist(self, blocking: bool = False):
        """Drop the kept partitions from every worker.

        >>> rdd = sc.parallelize([1, 2]).cache()
        >>> rdd.unpersist().is_cached
        False
        """
        self._storage_level = StorageLevel.NONE
        self.is_cached = False
        self.ctx._backend.drop_blocks(block_prefix(self.ctx._driver_id, self.id))
        return self

    def getStorageLevel(self) -> StorageLevel:
        """The storage level set by persist (StorageLevel.NONE if none): what the workers keep.

        Serialized levels (all but MEMORY_AND_DISK_DESER) keep pickled records,
        so a task mutating what it read never changes what a later task reads.

        >>> print(sc.parallelize([1, 2]).getStorageLevel())
        Serialized 1x Replicated
        """
        return self._storage_level

    def _persisted(self) -> bool:
        level = self._storage_level
        return level.useMemory or level.useDisk
