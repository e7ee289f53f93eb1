"""Graph runs in the web UI: a run's supersteps, folded from its jobs.

A graph run (minibig.graph on a cluster) runs each phase as a job of one
stage, described "graph <run> load", "graph <run> superstep <n>", "graph
<run> superstep <n> messages" (writing held-back messages out) and "graph
<run> output". Each superstep task reports `superstep`, `messages_sent`
and `active_vertices` (GRAPH_FIELDS), so a superstep's numbers are the sums
over its partitions' successful attempts. A run in a session
(`minibig/graph/session.py`) is one job, "graph <run> session", whose task per
partition reports the same fields as lists, one entry per superstep it ran
(`superstep`: `[n, start, seconds, outbox bytes]`): its supersteps show once
the session's tasks end. A superstep that ran more than once (the run rolled
back to a checkpoint after losing a worker) shows its last run, and counts
its runs.
"""

from __future__ import annotations

import re

from minibig.ui.state import RunState

PHASE = re.compile(r"^graph (?P<run>\S+) (?:(?P<phase>load|output|session)|"
                   r"superstep (?P<step>\d+)(?P<messages> messages)?)$")


def _phases(state: RunState):
    """(app, run, phase or superstep number, is a message flush, job) of every graph job."""
    for job in state.jobs.values():
        match = PHASE.match(job["description"])
        if match:
            step = match["phase"] or int(match["step"])
            # The run's name starts with its driver's id ("<app>/graph0g"): the app says that.
            run = match["run"].removeprefix(job["app"] + "/")
            yield job["app"], run, step, bool(match["messages"]), job


def _span(jobs: list[dict]) -> tuple[float, float | None]:
    start = min(j["start"] for j in jobs)
    ends = [j["end"] for j in jobs]
    return start, (None if None in ends else max(ends))


def graph_runs(state: RunState) -> list[dict]:
    """Every graph run, newest first: its app, run id, supersteps, messages, time and status."""
    runs: dict = {}
    for app, run, step, _, job in _phases(state):
        runs.setdefault((app, run), []).append((step, job))
    rows = []
    for (app, run), phases in runs.items():
        view = graph_view(state, app, run, phases)
        rows.append({k: view[k] for k in ("app", "run", "start", "end", "duration", "result",
                                          "supersteps", "messages_sent")})
    return sorted(rows, key=lambda r: r["start"], reverse=True)


def graph_view(state: RunState, app: str, run: str, phases: list | None = None) -> dict | None:
    """One graph run: a row per superstep (messages, active vertices, duration) and its phases."""
    if phases is None:
        phases = [(step, job) for a, r, step, _, job in _phases(state) if (a, r) == (app, run)]
    if not phases:
        return None
    steps: dict = {}
    runs: dict = {}          # superstep -> its rows: one per session that ran it, one for its jobs
    for step, job in sorted(phases, key=lambda p: p[1]["start"]):
        if isinstance(step, int):
            steps.setdefault(step, []).append(job)
        elif step == "session":
            for n, row in _session_steps(state, job).items():
                runs.setdefault(n, []).append(row)
    for n, jobs in steps.items():
        runs.setdefault(n, []).append(_superstep(state, n, jobs))
    supersteps = [_last_run(rows) for _, rows in sorted(runs.items())]
    jobs = [job for _, job in phases]
    start, end = _span(jobs)
    results = {j["result"] for j in jobs}
    result = next((r for r in ("failed", "cancelled", "running") if r in results), "succeeded")
    named = {step: job for step, job in phases if isinstance(step, str)}
    return {"app": app, "run": run, "start": start, "end": end,
            "duration": None if end is None else round(end - start, 6), "result": result,
            "supersteps": len(supersteps),
            "messages_sent": sum(s["messages_sent"] for s in supersteps),
            "load": _job_ref(named.get("load")), "output": _job_ref(named.get("output")),
            "session": _job_ref(named.get("session")),
            "steps": supersteps}


def _job_ref(job: dict | None) -> dict | None:
    if job is None:
        return None
    end = job["end"]
    return {"job": job["job"], "result": job["result"],
            "duration": None if end is None else round(end - job["start"], 6)}


def _superstep(state: RunState, n: int, jobs: list[dict]) -> dict:
    """Superstep `n` from its jobs (the superstep itself, then any message flush; runs in order)."""
    runs = [j for j in jobs if PHASE.match(j["description"])["messages"] is None]
    last = runs[-1] if runs else jobs[-1]
    mine = [j for j in jobs if j["start"] >= last["start"]]
    # The flush job's tasks carry no counts: they write out what the superstep's tasks counted.
    tasks = [t for t in state.job_tasks(last["app"], last["job"])
             if t["result"] == "success" and t.get("superstep") == n]
    start, end = _span(mine)
    return {"superstep": n, "job": last["job"], "runs": len(runs), "result": last["result"],
            "tasks": len(tasks), "flushed": len(mine) > 1,
            "messages_sent": sum(t.get("messages_sent") or 0 for t in tasks),
            "active_vertices": sum(t.get("active_vertices") or 0 for t in tasks),
            "message_bytes": sum(t["shuffle_write_bytes"] or 0 for t in tasks),
            "start": start, "duration": None if end is None else round(end - start, 6)}


def _session_steps(state: RunState, job: dict) -> dict:
    """Superstep -> its row, from the tasks of one session job (see the module docstring)."""
    rows: dict = {}
    for task in state.job_tasks(job["app"], job["job"]):
        if task["result"] != "success" or not isinstance(task.get("superstep"), list):
            continue
        for (n, start, seconds, sent), messages, active in zip(task["superstep"], task["messages_sent"],
                                                               task["active_vertices"]):
            row = rows.setdefault(n, {"superstep": n, "job": job["job"], "runs": 1, "result": job["result"],
                                      "tasks": 0, "flushed": False, "messages_sent": 0,
                                      "active_vertices": 0, "message_bytes": 0, "start": start, "end": start})
            row["tasks"] += 1
            row["messages_sent"] += messages
            row["active_vertices"] += active
            row["message_bytes"] += sent
            row["start"], row["end"] = min(row["start"], start), max(row["end"], start + seconds)
    for row in rows.values():
        row["duration"] = round(row.pop("end") - row["start"], 6)
    return rows


def _last_run(rows: list) -> dict:
    """The latest of a superstep's rows (stepwise or in sessions), counting every run."""
    last = dict(max(rows, key=lambda row: row["start"]))
    last["runs"] = sum(row["runs"] for row in rows)
    return last
