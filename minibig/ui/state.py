"""The state of one or more applications, folded from their events.

The live UI (fed by a master as events happen) and `minibig history`
(fed by log files) build the same `RunState`, so both show the same pages.
State, all plain dicts keyed by identity:

    apps     app id -> {id, name, host, start, end}
    workers  worker id -> {id, host, pid, slots, added, removed, reason}
    jobs     (app, job) -> {app, job, description, start, end, result, ...}
    stages   (app, stage, attempt) -> {description, parents, tasks, submitted, ...}
    tasks    (app, stage, stage attempt, partition, attempt) -> one task attempt
             {worker, slot, locality, speculative, start, end, result, ...}

A task attempt's `result` is "running" until its `task_end`: then
"success", "failed", "killed", "lost" (its worker died), "fetch_failed", or
"superseded" (another attempt of the task finished first). Only the oldest
jobs are forgotten, past `max_jobs`, so a long-lived master stays bounded.
"""

from __future__ import annotations

import time
from collections import Counter

from minibig.ui.events import GRAPH_FIELDS

MAX_JOBS = 200


def _task_key(ev: dict) -> tuple:
    return (ev["app"], ev["stage"], ev["stage_attempt"], ev["partition"], ev["attempt"])


class RunState:
    """Applications, workers, jobs, stages and task attempts, from events."""

    def __init__(self, max_jobs: int = MAX_JOBS):
        self.max_jobs = max_jobs
        self.apps: dict = {}
        self.workers: dict = {}
        self.jobs: dict = {}
        self.stages: dict = {}
        self.tasks: dict = {}
        self.events = 0

    # -- folding events -----------------------------------------------------------
    def apply(self, ev: dict) -> None:
        """Fold one event into the state; an event of unknown kind is ignored."""
        handler = getattr(self, "_on_" + str(ev.get("event")), None)
        if handler is not None:
            handler(ev)
            self.events += 1

    def _on_app_start(self, ev):
        self.apps[ev["app"]] = {"id": ev["app"], "name": ev.get("name", ""),
                                "host": ev.get("host", ""), "start": ev["time"], "end": None}

    def _on_app_end(self, ev):
        if ev["app"] in self.apps:
            self.apps[ev["app"]]["end"] = ev["time"]

    def _on_worker_added(self, ev):
        self.workers[ev["worker"]] = {"id": ev["worker"], "host": ev.get("host", ""),
                                      "pid": ev.get("pid"), "slots": ev.get("slots", 1),
                                      "added": ev["time"], "removed": None, "reason": None}

    def _on_worker_removed(self, ev):
        worker = self.workers.get(ev["worker"])
        if worker is not None:
            worker["removed"], worker["reason"] = ev["time"], ev.get("reason")

    def _on_job_start(self, ev):
        self.jobs[(ev["app"], ev["job"])] = {
            "app": ev["app"], "job": ev["job"], "description": ev.get("description", ""),
            "start": ev["time"], "end": None, "result": "running", "error": None}
        self._forget_old_jobs()

    def _on_job_end(self, ev):
        job = self.jobs.get((ev["app"], ev["job"]))
        if job is not None and job["end"] is None:
            job.update(end=ev["time"], result=ev.get("result", "succeeded"), error=ev.get("error"))

    def _on_stage_submitted(self, ev):
        self.stages[(ev["app"], ev["stage"], ev["attempt"])] = {
            "app": ev["app"], "job": ev["job"], "stage": ev["stage"], "attempt": ev["attempt"],
            "description": ev.get("description", ""), "parents": list(ev.get("parents", [])),
            "tasks": ev.get("tasks", 0), "submitted": ev["time"], "completed": None,
            "result": "running", "error": None}

    def _on_stage_completed(self, ev):
        stage = self.stages.get((ev["app"], ev["stage"], ev["attempt"]))
        if stage is not None and stage["completed"] is None:
            stage.update(completed=ev["time"], result=ev.get("result", "succeeded"),
                         error=ev.get("error"))

    def _on_task_start(self, ev):
        self.tasks[_task_key(ev)] = {
            "app": ev["app"], "job": ev["job"], "stage": ev["stage"],
            "stage_attempt": ev["stage_attempt"], "partition": ev["partition"],
            "attempt": ev["attempt"], "worker": ev.get("worker"), "host": ev.get("host"),
            "slot": ev.get("slot", 0), "locality": ev.get("locality"),
            "speculative": bool(ev.get("speculative")), "start": ev["time"], "end": None,
            "result": "running", "duration": None, "run_seconds": None, "result_size": None,
            "shuffle_read_bytes": ev.get("shuffle_read_bytes"), "shuffle_write_bytes": None,
            "gc_seconds": None, "spill_bytes": None, "error": None}

    def _on_task_end(self, ev):
        task = self.tasks.get(_task_key(ev))
        if task is None or task["end"] is not None:
            return
        task.update(end=ev["time"], result=ev.get("result", "success"),
                    duration=ev.get("duration"), run_seconds=ev.get("run_seconds"),
                    result_size=ev.get("result_size"), error=ev.get("error"),
                    shuffle_write_bytes=ev.get("shuffle_write_bytes"),
                    gc_seconds=ev.get("gc_seconds"), spill_bytes=ev.get("spill_bytes"),
                    **{k: ev[k] for k in GRAPH_FIELDS if k in ev})

    def _forget_old_jobs(self) -> None:
        while len(self.jobs) > self.max_jobs:
            app, job = next(iter(self.jobs))
            del self.jobs[(app, job)]
            for table in (self.stages, self.tasks):
                for key in [k for k, v in table.items() if v["app"] == app and v["job"] == job]:
                    del table[key]

    # -- views (JSON-able) ------------------------------------------------------------
    def job_tasks(self, app: str, job: int) -> list[dict]:
        """Every attempt of every task of a job, in launch order."""
        return sorted((t for t in self.tasks.values() if t["app"] == app and t["job"] == job),
                      key=lambda t: t["start"])

    def job_stages(self, app: str, job: int) -> list[dict]:
        """The stage attempts a job submitted, with counts of their task attempts."""
        tasks = self.job_tasks(app, job)
        stages = sorted((s for s in self.stages.values() if s["app"] == app and s["job"] == job),
                        key=lambda s: (s["submitted"], s["stage"], s["attempt"]))
        return [{**s, **summarize(t for t in tasks if t["stage"] == s["stage"]
                                  and t["stage_attempt"] == s["attempt"])} for s in stages]

    def job_summary(self, job: dict) -> dict:
        """A job with its stage and task counts (the numbers `sc.lastJob` has)."""
        stages = [s for s in self.stages.values() if s["app"] == job["app"] and s["job"] == job["job"]]
        tasks = self.job_tasks(job["app"], job["job"])
        end = job["end"] if job["end"] is not None else time.time()
        return {**job, "stages": len(stages), "duration": round(end - job["start"], 6),
                **summarize(tasks)}

    def overview(self) -> dict:
        """Applications, workers and jobs (newest first)."""
        jobs = sorted(self.jobs.values(), key=lambda j: j["start"], reverse=True)
        return {"apps": list(self.apps.values()), "workers": list(self.workers.values()),
                "jobs": [self.job_summary(j) for j in jobs]}

    def job_view(self, app: str, job: int) -> dict | None:
        """One job: its summary, stages (with their parent stages), attempts and timeline."""
        found = self.jobs.get((app, job))
        if found is None:
            return None
        tasks = self.job_tasks(app, job)
        return {"job": self.job_summary(found), "stages": self.job_stages(app, job),
                "tasks": tasks, "timeline": timeline(found, tasks)}

    def stage_view(self, app: str, stage: int, attempt: int) -> dict | None:
        """One stage attempt and its task attempts."""
        found = self.stages.get((app, stage, attempt))
        if found is None:
            return None
        tasks = [t for t in self.job_tasks(app, found["job"])
                 if t["stage"] == stage and t["stage_attempt"] == attempt]
        return {"stage": {**found, **summarize(tasks)}, "tasks": tasks}


def summarize(tasks) -> dict:
    """Counts of task attempts by outcome, locality of the successful ones, bytes moved."""
    tasks = list(tasks)
    results = Counter(t["result"] for t in tasks)
    done = [t for t in tasks if t["result"] == "success"]
    return {"attempts": len(tasks), "succeeded": results["success"],
            "running": results["running"], "failed": results["failed"],
            "lost": results["lost"], "killed": results["killed"] + results["superseded"],
            "speculative": sum(t["speculative"] for t in tasks),
            "locality": dict(Counter(t["locality"] or "ANY" for t in done)),
            "shuffle_read_bytes": sum(t["shuffle_read_bytes"] or 0 for t in done),
            "shuffle_write_bytes": sum(t["shuffle_write_bytes"] or 0 for t in done),
            "spill_bytes": sum(t["spill_bytes"] or 0 for t in done),
            "gc_seconds": round(sum(t["gc_seconds"] or 0 for t in done), 6)}


def timeline(job: dict, tasks: list[dict]) -> dict:
    """A Gantt chart of a job: one row per worker slot, one bar per task attempt.

    Times are seconds since the job started; a running attempt ends now.
    """
    origin = job["start"]
    now = job["end"] if job["end"] is not None else time.time()
    rows = sorted({(t["worker"] or "?", t["slot"] or 0) for t in tasks})
    index = {row: i for i, row in enumerate(rows)}
    bars = [{"row": index[(t["worker"] or "?", t["slot"] or 0)], "stage": t["stage"],
             "stage_attempt": t["stage_attempt"], "partition": t["partition"],
             "attempt": t["attempt"], "speculative": t["speculative"], "result": t["result"],
             "start": round(t["start"] - origin, 6),
             "end": round((t["end"] if t["end"] is not None else now) - origin, 6)}
            for t in tasks]
    return {"rows": [f"{w} #{s}" for w, s in rows], "bars": bars,
            "duration": round(now - origin, 6)}


def app_timeline(state: RunState, app: str) -> dict:
    """The timeline of every job of an application, from its first job's start."""
    jobs = sorted((j for j in state.jobs.values() if j["app"] == app), key=lambda j: j["start"])
    if not jobs:
        return {"rows": [], "bars": [], "duration": 0.0, "jobs": []}
    ends = [j["end"] for j in jobs if j["end"] is not None]
    span = {"start": jobs[0]["start"], "end": max(ends) if len(ends) == len(jobs) else None}
    tasks = sorted((t for t in state.tasks.values() if t["app"] == app), key=lambda t: t["start"])
    return {**timeline(span, tasks),
            "jobs": [{"job": j["job"], "start": round(j["start"] - span["start"], 6)} for j in jobs]}
