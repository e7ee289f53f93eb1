"""Configuration: one immutable-ish object that travels with the context.

Every tunable of the engine lives here, with its default and a one-line reason.
A `Conf` is built once by the driver (from keyword arguments and `MINIBIG_*`
environment variables) and handed to the pieces that need it; nothing reads
module-level mutable globals.
"""

from __future__ import annotations

import dataclasses
import os


def _env_number(name: str, cast, default):
    raw = os.environ.get(name)
    return default if raw in (None, "") else cast(raw)


@dataclasses.dataclass
class Conf:
    """Settings of one driver and of the cluster processes it starts."""

    #: Biggest total size of the results of one action sent back to the driver.
    max_result_size: int = 1 << 30
    #: Seconds between heartbeats of workers and drivers.
    heartbeat_interval: float = 0.5
    #: A worker silent for this long is declared lost.
    worker_timeout: float = 10.0
    #: A driver whose master stays silent this long aborts its running job.
    master_timeout: float = 30.0
    #: A driver silent for this long has its stages cancelled and shuffles dropped.
    driver_timeout: float = 60.0
    #: Attempts of one task before its job fails (Spark's spark.task.maxFailures).
    max_task_attempts: int = 4
    #: How long to wait for a master to answer before giving up on it.
    connect_timeout: float = 10.0
    #: How long an embedded cluster may take for all its workers to register.
    startup_timeout: float = 60.0
    #: Byte size of a textFile split (Spark's local block size, 32 MiB).
    split_size: int = 32 << 20
    #: Seconds a stage waits for a preferred worker before relaxing locality (as Spark).
    locality_wait: float = 3.0
    #: Back up straggling tasks on other workers (LATE).
    speculation: bool = True
    #: How the master shares slots between drivers: "FIFO" or "FAIR".
    scheduler_mode: str = "FIFO"
    #: Seconds a reduce task waits for a remote worker's shuffle block.
    fetch_timeout: float = 30.0
    #: Read shuffle blocks of same-host workers straight from their disk.
    shuffle_local_read: bool = True
    #: Show stage/task progress on stderr when it is a terminal.
    progress: bool = True
    #: Memory budget of each embedded worker in bytes (`minibig worker --memory`), shared by
    #: its task slots for shuffles and by its cached partitions; None: the worker's default.
    worker_memory: int | None = None
    #: Drop the shuffle files and cached partitions of datasets the driver has freed
    #: (Spark's ContextCleaner); off, they stay until the driver stops.
    cleaner: bool = True
    #: Folder where the master writes each application's event log (Spark's
    #: spark.eventLog.dir; docs/event-log.md); None: no log.
    event_log: str | None = None
    #: Embedded clusters serve the web UI on a free loopback port (`sc.uiWebUrl`).
    ui: bool = True

    @classmethod
    def from_env(cls, **overrides) -> "Conf":
        """Defaults, then `MINIBIG_*` environment variables, then `overrides`."""
        conf = cls(
            max_result_size=_env_number("MINIBIG_MAX_RESULT_SIZE", int, cls.max_result_size),
            worker_timeout=_env_number("MINIBIG_WORKER_TIMEOUT", float, cls.worker_timeout),
            max_task_attempts=_env_number("MINIBIG_MAX_TASK_ATTEMPTS", int, cls.max_task_attempts),
            connect_timeout=_env_number("MINIBIG_CONNECT_TIMEOUT", float, cls.connect_timeout),
            split_size=_env_number("MINIBIG_SPLIT_SIZE", int, cls.split_size),
            worker_memory=_env_number("MINIBIG_WORKER_MEMORY", int, cls.worker_memory),
            cleaner=os.environ.get("MINIBIG_CLEANER", "1") != "0",
            event_log=os.environ.get("MINIBIG_EVENT_LOG") or None,
            ui=os.environ.get("MINIBIG_UI", "1") != "0",
        )
        return dataclasses.replace(conf, **overrides)
