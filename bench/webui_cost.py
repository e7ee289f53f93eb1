"""What the web UI costs a running job: word count with the UI off, served, polled, and open in a browser.

Four ways to run the same word count (datasets/text, jobs/wordcount.py's
pipeline) on a fresh embedded 2-worker cluster:

    off       MINIBIG_UI=0: no web server; the master makes no event for it
    served    the UI served (the default), nobody looking
    polled    an HTTP client fetching what the job page fetches (api/job of
              the newest job and api/overview) once a second, the page's own
              rate (POLL_MS in minibig/ui/static/app.js)
    browser   headless chromium showing the overview page, which refreshes
              its tables every second, for the whole run

Each round starts one cluster per way, in turn, runs one untimed job and then
`--jobs` timed ones; rounds interleave the ways so that the shared machine's
other load spreads over all of them. Reported per way: the median job time
over every timed job and its ratio to `off`; the paired ratio (per round,
the way's median over `off`'s median in the same round, then the median of
those: the rounds' drift cancels); and the master's CPU seconds per job
(the web server runs in the master's process), which other load on the
machine hardly moves. The machine is shared: read the ratios against the
spread of `off` itself.

    python bench/webui_cost.py [--rounds 4] [--jobs 3]

Results: bench/results/webui_cost.json and, with matplotlib, webui_cost.png.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psutil

from minibig import Context

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = os.path.join(HERE, "..", "datasets", "text")
RESULTS = os.path.join(HERE, "results")
WAYS = ["off", "served", "polled", "browser"]
POLL_SECONDS = 1.0            # app.js POLL_MS


def word_count(sc) -> int:
    """jobs/wordcount.py's pipeline; the number of distinct words."""
    return (sc.textFile(TEXT).flatMap(str.split).map(lambda w: (w, 1))
              .reduceByKey(operator.add).count())


class Poller:
    """Fetch the job page's endpoints once a second, as the page does, until stopped."""

    def __init__(self, sc):
        self.url, self.app = sc.uiWebUrl, sc._driver_id
        self.stop = threading.Event()
        self.requests = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            self.requests += 1
            return json.load(response)

    def run(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            jobs = [j for j in self.get("api/overview")["jobs"] if j["app"] == self.app]
            if jobs:
                self.get(f"api/job?app={self.app}&job={max(j['job'] for j in jobs)}")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(15)


class Browser:
    """Headless chromium on the UI's overview page, in a process group of its own."""

    def __init__(self, sc):
        self.url = sc.uiWebUrl
        self.profile = tempfile.mkdtemp(prefix="webui-cost-")
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise SystemExit("the browser way needs chromium (apt-get install chromium)")
        self.cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    f"--user-data-dir={self.profile}", self.url + "#/"]

    def cpu_seconds(self) -> float:
        """CPU time of chromium's processes so far."""
        total = 0.0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.root = psutil.Process(self.proc.pid)
        return self

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        shutil.rmtree(self.profile, ignore_errors=True)


def one_cluster(way: str, jobs: int) -> dict:
    """Start a cluster for `way`, run a warm-up job and `jobs` timed ones; their times."""
    os.environ["MINIBIG_UI"] = "0" if way == "off" else "1"
    with Context(workers=2, appName=f"webui-cost-{way}", progress=False) as sc:
        master = psutil.Process(sc._cluster.master.pid)
        watcher = {"polled": Poller, "browser": Browser}.get(way)
        with (watcher(sc) if watcher else _nothing()) as watching:
            word_count(sc)              # untimed: imports, page cache, and the page's first load
            cpu = master.cpu_times()
            browser_cpu = watching.cpu_seconds() if way == "browser" else 0.0
            times = []
            for _ in range(jobs):
                start = time.perf_counter()
                word_count(sc)
                times.append(time.perf_counter() - start)
            after = master.cpu_times()
            browser_cpu = watching.cpu_seconds() - browser_cpu if way == "browser" else None
            requests = watching.requests if way == "polled" else None
    return {"times": times, "master_cpu_s": (after.user + after.system) - (cpu.user + cpu.system),
            "browser_cpu_s": browser_cpu, "requests": requests}


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def summarize(runs: dict, jobs: int) -> dict:
    """Per way: median, min, max job time, ratio to off, master CPU per job."""
    out = {}
    for way, clusters in runs.items():
        times = [t for c in clusters for t in c["times"]]
        out[way] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                    "jobs": len(times),
                    "master_cpu_per_job_s": sum(c["master_cpu_s"] for c in clusters) / len(times)}
        if way == "browser":
            out[way]["browser_cpu_per_job_s"] = sum(c["browser_cpu_s"] for c in clusters) / len(times)
        if way == "polled":
            out[way]["requests"] = sum(c["requests"] for c in clusters)
    for way in out:
        out[way]["ratio_to_off"] = out[way]["median_s"] / out["off"]["median_s"]
        out[way]["paired_ratio"] = statistics.median(
            statistics.median(mine["times"]) / statistics.median(off["times"])
            for mine, off in zip(runs[way], runs["off"]))
    return out


def plot(path: str, summary: dict, title: str) -> str | None:
    """Median job time per way with its min-max, as a PNG; None without matplotlib."""
    try:
        import matplotlib              # an optional extra (minibig[bench]): only for the figure
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ways = list(summary)
    medians = [summary[w]["median_s"] for w in ways]
    low = [summary[w]["median_s"] - summary[w]["min_s"] for w in ways]
    high = [summary[w]["max_s"] - summary[w]["median_s"] for w in ways]
    colors = ["0.6", "#4e79a7", "#f28e2b", "#e15759"]
    fig, (ax, cpu) = plt.subplots(1, 2, figsize=(9.6, 4.0), dpi=120)
    ax.bar(ways, medians, yerr=[low, high], capsize=5, color=colors)
    for i, w in enumerate(ways):
        ax.text(i, medians[i] / 2, f"{summary[w]['paired_ratio']:.2f}x", ha="center", color="white",
                fontsize=10, fontweight="bold")
    ax.set_ylabel("job time, s (median, min-max; in the bar: paired ratio to off)")
    cpu.bar(ways, [1000 * summary[w]["master_cpu_per_job_s"] for w in ways], color=colors)
    cpu.set_ylabel("the master's CPU per job, ms")
    for axis in (ax, cpu):
        axis.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=3, help="timed jobs per cluster")
    args = parser.parse_args()
    runs: dict = {way: [] for way in WAYS}
    for r in range(args.rounds):
        for way in WAYS:
            result = one_cluster(way, args.jobs)
            runs[way].append(result)
            print(f"round {r + 1}/{args.rounds} {way:>8}: "
                  + " ".join(f"{t:.3f}" for t in result["times"]) + " s", file=sys.stderr, flush=True)
    summary = summarize(runs, args.jobs)
    cores = os.cpu_count()
    title = (f"word count ({args.rounds} rounds x {args.jobs} jobs per way, 2 workers, "
             f"{cores}-core shared machine): the web UI's cost")
    print(title)
    print(f"{'way':>8} {'median':>8} {'min':>8} {'max':>8} {'vs off':>7} {'paired':>7} "
          f"{'master CPU/job':>15}")
    for way, s in summary.items():
        print(f"{way:>8} {s['median_s']:>7.3f}s {s['min_s']:>7.3f}s {s['max_s']:>7.3f}s "
              f"{s['ratio_to_off']:>6.3f}x {s['paired_ratio']:>6.3f}x {s['master_cpu_per_job_s']:>14.3f}s")
    os.makedirs(RESULTS, exist_ok=True)
    doc = {"title": title, "rounds": args.rounds, "jobs": args.jobs, "input": "datasets/text",
           "summary": summary, "runs": runs, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with open(os.path.join(RESULTS, "webui_cost.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    png = plot(os.path.join(RESULTS, "webui_cost.png"), summary, title)
    print("wrote bench/results/webui_cost.json" + (", " + os.path.relpath(png) if png else ""))


if __name__ == "__main__":
    main()
