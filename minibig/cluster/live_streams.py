"""The master's board of running streaming jobs: the latest sample of each task, summed.

A streaming task publishes a sample of its operators about once a second
(``minibig.streaming.live``); its worker's heartbeat carries it here tagged
with the task's taskset. ``StreamBoard`` keeps the latest sample per
(taskset, task) and, for ``status()``, sums the instances of each operator
of each job (app = driver id, name = the job's name): records in and out and
their rates add up, the watermark is the smallest instance's (an operator is
as far as its slowest instance), backpressure is the instances' mean.
Samples of tasksets that have ended, or of a generation older than the
job's newest, are left out: a finished or restarted job shows no ghosts.
"""

from __future__ import annotations

import time


class StreamBoard:
    """Latest samples of streaming tasks, per (taskset, task)."""

    def __init__(self):
        self.samples: dict[tuple, dict] = {}

    def update(self, samples: list) -> None:
        """Keep each sample of one heartbeat (the newest wins)."""
        for sample in samples:
            if isinstance(sample, dict) and "taskset" in sample and "task" in sample:
                self.samples[(sample["taskset"], sample["task"])] = sample

    def summary(self, running, now: float | None = None) -> list[dict]:
        """``status()["streams"]``: one entry per job whose taskset is in ``running``."""
        now = time.time() if now is None else now
        for key in [k for k in self.samples if k[0] not in running]:
            del self.samples[key]
        jobs: dict[tuple, list] = {}
        for sample in self.samples.values():
            jobs.setdefault((sample["app"], sample["name"]), []).append(sample)
        streams = []
        for (app, name), samples in sorted(jobs.items()):
            newest = max(s["gen"] for s in samples)
            samples = [s for s in samples if s["gen"] == newest]
            streams.append({"app": app, "name": name, "operators": _operators(samples, now),
                            "last_checkpoint": _last_checkpoint(samples),
                            "updated": max(s["updated"] for s in samples)})
        return streams


def _operators(samples: list, now: float) -> list[dict]:
    by_id: dict[int, list] = {}
    for sample in samples:
        for op in sample["operators"]:
            by_id.setdefault(op["id"], []).append(op)
    operators = []
    for node_id in sorted(by_id):
        ops = by_id[node_id]
        marks = [op["watermark"] for op in ops if op["watermark"] is not None]
        watermark = min(marks) if len(marks) == len(ops) else None
        operators.append({
            "name": ops[0]["name"], "parallelism": ops[0]["parallelism"],
            "records_in": sum(op["records_in"] for op in ops),
            "records_out": sum(op["records_out"] for op in ops),
            "rate_in": round(sum(op["rate_in"] for op in ops), 1),
            "watermark": watermark,
            "watermark_lag_s": None if watermark is None else round(now - watermark, 3),
            "backpressure": round(sum(op["backpressure"] for op in ops) / len(ops), 3)})
    return operators


def _last_checkpoint(samples: list):
    known = [s["last_checkpoint"] for s in samples if s.get("last_checkpoint")]
    return max(known, key=lambda c: c["id"]) if known else None
