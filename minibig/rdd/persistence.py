"""persist/cache/unpersist: keeping a dataset's partitions on the workers.

Mixed into `RDD`. Persisting only marks the dataset; the first task that
computes a partition keeps it in its worker's block store
(`minibig.core.cache.BlockStore`), and later tasks on that worker read it from
there (serialized, unless the level says deserialized: see
`minibig.core.storagelevel`). The master learns where blocks are and
prefers those workers when it schedules tasks that read them.
"""

from __future__ import annotations

from minibig.core.paths import file_uri
from minibig.core.storagelevel import StorageLevel
from minibig.core.task import block_prefix


class PersistenceMixin:
    """cache, persist, unpersist, getStorageLevel, is_cached and checkpointing."""

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

        Serialized levels (all but MEMORY_AND_DISK_DESER) give each task its own copy
        of every mutable record (pickled, or rebuilt: see `minibig.core.cache`), so a
        task mutating what it read never changes what a later task reads.

        >>> print(sc.parallelize([1, 2]).getStorageLevel())
        Serialized 1x Replicated
        """
        return self._storage_level

    # -- checkpointing (minibig.rdd.checkpoint) ---------------------------------------
    #: PySpark's attribute: True once checkpoint() or localCheckpoint() marked the dataset.
    is_checkpointed = False
    _checkpoint_kind: str | None = None
    _checkpoint_file: str | None = None

    def checkpoint(self) -> None:
        """Mark for checkpointing: after the next action, saved to files in the folder of
        sc.setCheckpointDir and cut from its parents. Persist it first, or saving it
        computes it again.

        >>> import tempfile
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> rdd = sc.range(5)
        >>> rdd.is_checkpointed
        False
        >>> rdd.getCheckpointFile() == None
        True

        >>> rdd.checkpoint()
        >>> rdd.is_checkpointed
        True
        >>> rdd.getCheckpointFile() == None
        True

        >>> rdd.count()
        5
        >>> rdd.is_checkpointed
        True
        >>> rdd.getCheckpointFile() == None
        False
        """
        from minibig.rdd.checkpoint import mark   # defines an RDD subclass: see minibig.rdd.base
        mark(self, "reliable")

    def localCheckpoint(self) -> None:
        """Mark for local checkpointing: after the next action, kept in the workers' block
        stores (MEMORY_AND_DISK) and cut from its parents. Faster than checkpoint(), but
        a partition lost with its worker cannot be recomputed.

        >>> rdd = sc.range(5)
        >>> rdd.isLocallyCheckpointed()
        False

        >>> rdd.localCheckpoint()
        >>> rdd.isLocallyCheckpointed()
        True
        """
        from minibig.rdd.checkpoint import mark   # see above
        mark(self, "local")

    def isCheckpointed(self) -> bool:
        """Whether the dataset has been checkpointed (written, and its lineage cut).

        >>> rdd = sc.range(5)
        >>> rdd.isCheckpointed()
        False
        """
        from minibig.rdd.checkpoint import CheckpointedRDD   # an RDD subclass: see above
        return isinstance(self, CheckpointedRDD)

    def isLocallyCheckpointed(self) -> bool:
        """Whether localCheckpoint() marked the dataset.

        >>> rdd = sc.range(5)
        >>> rdd.isLocallyCheckpointed()
        False
        """
        return self._checkpoint_kind == "local"

    def getCheckpointFile(self) -> str | None:
        """The folder this dataset was checkpointed to, as PySpark gives it (a file: URI
        under sc.getCheckpointDir()); None before, or when local.

        >>> rdd = sc.range(5)
        >>> rdd.checkpoint()
        >>> rdd.isCheckpointed()
        False
        >>> rdd.getCheckpointFile() == None
        True
        >>> rdd.count()
        5
        >>> rdd.isCheckpointed()
        True
        >>> rdd.getCheckpointFile() == None
        False
        """
        return None if self._checkpoint_file is None else file_uri(self._checkpoint_file)

    def _persisted(self) -> bool:
        level = self._storage_level
        return level.useMemory or level.useDisk
