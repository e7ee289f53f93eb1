"""Task timelines as PNGs: `minibig bench --timeline`, drawn from the event log.

One Gantt chart per run: a row per worker slot, a bar per task attempt,
coloured by stage; speculative attempts have a black outline, failed and
lost ones a red hatched one, killed and superseded ones are faded. Job
starts are dashed lines. The bars come from the same `RunState` the web UI
folds from the events (`minibig.ui.state`), so the PNG and the UI agree.

`record_timelines` runs the job once more at each worker count, untimed,
on a fresh embedded cluster whose master writes an event log: the timed
runs stay exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import textwrap

from minibig.benchmark.plot import available
from minibig.benchmark.runner import Setup, measure_minibig
from minibig.ui.events import log_files, read_events
from minibig.ui.state import RunState, app_timeline

STAGE_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
                "#ff9da7", "#9c755f", "#e15759", "#bab0ac"]


def load_state(directory: str) -> RunState:
    """Every event log in `directory`, folded into one state."""
    state = RunState(max_jobs=10 ** 9)
    for path in log_files(directory):
        for ev in read_events(path):
            state.apply(ev)
    return state


def plot_timeline(path: str, tl: dict, title: str) -> str | None:
    """Draw a timeline (`app_timeline`'s dict) into `path`; None when matplotlib is missing."""
    if not available():
        return None
    import matplotlib                     # an optional extra (minibig[bench]): only for plots
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = tl["rows"]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * max(1, len(rows))), dpi=120)
    stages = sorted({b["stage"] for b in tl["bars"]})
    for b in tl["bars"]:
        broken = b["result"] in ("failed", "lost", "fetch_failed")
        faded = b["result"] in ("killed", "superseded")
        edge = "red" if broken else "black" if b["speculative"] else "white"
        ax.broken_barh([(b["start"], max(b["end"] - b["start"], 1e-4))], (b["row"] - 0.4, 0.8),
                       facecolors=STAGE_COLORS[b["stage"] % len(STAGE_COLORS)],
                       edgecolors=edge, linewidth=1.5 if edge != "white" else 0.5,
                       alpha=0.4 if faded or broken else 1.0, hatch="///" if broken else None)
    for job in tl.get("jobs", []):
        ax.axvline(job["start"], color="0.5", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, max(tl["duration"], 1e-3))
    ax.set_xlabel("seconds since the first job started")
    ax.set_title(textwrap.fill(title, 100), fontsize=9)
    handles = [Patch(color=STAGE_COLORS[s % len(STAGE_COLORS)], label=f"stage {s}") for s in stages[:12]]
    handles += [Patch(facecolor="white", edgecolor="black", label="speculative"),
                Patch(facecolor="white", edgecolor="red", hatch="///", label="failed / lost")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    ax.grid(axis="x", color="0.9")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@contextlib.contextmanager
def _event_log_in(directory: str):
    """MINIBIG_EVENT_LOG set for the clusters started inside, as it was afterwards."""
    before = os.environ.get("MINIBIG_EVENT_LOG")
    os.environ["MINIBIG_EVENT_LOG"] = directory
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MINIBIG_EVENT_LOG", None)
        else:
            os.environ["MINIBIG_EVENT_LOG"] = before


def record_timelines(job: str, job_args: list[str], worker_counts: list[int], stem: str,
                     title: str, timeout: float, log, setup: Setup | None = None) -> list[str]:
    """One untimed run per worker count with an event log; the PNGs drawn from the logs."""
    written = []
    for n in worker_counts:
        with tempfile.TemporaryDirectory(prefix="minibig-timeline-") as folder:
            with _event_log_in(folder):
                measure_minibig(job, job_args, n, timeout, setup)
            state = load_state(folder)
        apps = [a for a in state.apps if any(j["app"] == a for j in state.jobs.values())]
        if not apps:
            log(f"timeline at {n} workers: the job ran no task")
            continue
        path = plot_timeline(f"{stem}-timeline-w{n}.png", app_timeline(state, apps[-1]),
                             f"{title}, {n} worker{'s' if n > 1 else ''}")
        if path:
            log(f"timeline at {n} workers: {path}")
            written.append(path)
    return written
