"""Watching a run: the event log's format, the state folded from it, and the web UI.

`events` defines the versioned JSON-lines format (docs/event-log.md) and
reads and writes log files; `state` folds events into jobs, stages, task
attempts and timelines; `server` serves that state, live from a master or
replayed from a log folder (`minibig history DIR`), as JSON and as the pages
in `static/`. Nothing here imports the cluster runtime: the master feeds it
events and status snapshots (`minibig.cluster.eventlog`).
"""
