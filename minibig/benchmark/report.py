"""The results of `minibig bench`: one table, printed and written as CSV and JSON.

A row per worker count holds the raw run times (so anyone can recompute the
rest), their median, min and max, and, from the medians, the speedup over the
smallest worker count, the parallel efficiency and the Karp–Flatt serial
fraction (see `amdahl`). Under weak scaling a row also has its input's
multiplier, and the speedup is the scaled speedup r T(p0) / T(p) (so the
efficiency is T(p0) / T(p)); Karp–Flatt, a fixed-size measure, is left out.
Under a CPU quota a row has how long the quota throttled its workers. The JSON file adds the Amdahl fit, the --compare
engines, what exactly was timed, and the machine.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import time

from minibig.benchmark import amdahl

LOOSE_QUOTA = 0.2            # a quota binding in fewer periods than this did not set the pace
CSV_FIELDS = ["workers", "scale", "runs", "median_s", "min_s", "max_s", "speedup", "efficiency",
              "karp_flatt", "startup_median_s", "throttled_median_s", "throttled_share", "times_s"]


def _throttled_seconds(run: list[dict]) -> float:
    """Seconds one run's workers were held back by their quota, all workers together."""
    return sum(w["throttled_s"] for w in run)


def _throttled_share(run: list[dict]) -> float:
    """The share of the workers' scheduling periods in which the quota held them back."""
    periods = sum(w["nr_periods"] for w in run)
    return sum(w["nr_throttled"] for w in run) / periods if periods else 0.0


def scaling_rows(series, weak: bool = False) -> list[dict]:
    """One dict per worker count (ascending), with the derived numbers."""
    series = sorted(series, key=lambda s: s.workers)
    base = series[0]
    base_median = statistics.median(base.times)
    rows = []
    for s in series:
        median = statistics.median(s.times)
        relative = s.workers / base.workers
        speedup = (amdahl.scaled_speedup(base_median, median, relative) if weak
                   else amdahl.speedup(base_median, median))
        throttled = [_throttled_seconds(run) for run in s.throttled]
        rows.append({
            "workers": s.workers,
            "scale": s.scale,
            "runs": len(s.times),
            "times_s": list(s.times),
            "median_s": median,
            "min_s": min(s.times),
            "max_s": max(s.times),
            "speedup": speedup,
            "efficiency": amdahl.efficiency(speedup, relative),
            "karp_flatt": None if weak else amdahl.karp_flatt(speedup, relative),
            "startup_median_s": statistics.median(s.startups) if s.startups else None,
            "throttled_median_s": statistics.median(throttled) if throttled else None,
            "throttled_share": (statistics.median(_throttled_share(run) for run in s.throttled)
                                if s.throttled else None),
            "throttled": list(s.throttled),
        })
    return rows


def peer_rows(peers, reference: dict) -> list[dict]:
    """The --compare engines: median times and how many times slower than minibig.

    `reference` is minibig's scaling row at the same worker count. The ratio
    is of job times (each engine's start-up left out, where it reported one);
    `slower_with_startup` compares job plus start-up on both sides.
    """
    rows = []
    for s in peers:
        median = statistics.median(s.times) if s.times else None
        startup = statistics.median(s.startups) if s.startups else None
        row = {
            "engine": s.engine, "label": s.label, "workers": s.workers, "times_s": list(s.times),
            "median_s": median, "min_s": min(s.times) if s.times else None,
            "max_s": max(s.times) if s.times else None, "startups_s": list(s.startups),
            "startup_median_s": startup,
            "slower_than_minibig": median / reference["median_s"] if median else None,
            "slower_with_startup": None, "note": s.note,
        }
        ours = reference.get("startup_median_s")
        if median and ours is not None:          # no start-up reported: it is in the job time
            row["slower_with_startup"] = (median + (startup or 0.0)) / (reference["median_s"] + ours)
        rows.append(row)
    return rows


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _seconds(value) -> str:
    return f"{'-':>9}" if value is None else f"{value:>8.2f}s"


def format_table(rows: list[dict], fit, gustafson=None, title: str = "", weak: bool = False) -> str:
    """The scaling table, its title, and the Amdahl (and, weak, Gustafson) fits as text."""
    quota = any(r["throttled_median_s"] is not None for r in rows)
    head = (f"{'workers':>7} " + (f"{'input':>6} " if weak else "") +
            f"{'median':>9} {'min':>9} {'max':>9} " +
            (f"{'scaled speedup':>14} {'weak eff.':>10}" if weak else
             f"{'speedup':>8} {'efficiency':>10} {'Karp-Flatt':>10}") +
            f" {'start-up':>9}" + (f" {'throttled':>10}" if quota else ""))
    lines = ([title] if title else []) + [head]
    for r in rows:
        line = f"{r['workers']:>7} " + (f"{'x' + format(r['scale'], 'g'):>6} " if weak else "")
        line += f"{r['median_s']:>8.3f}s {r['min_s']:>8.3f}s {r['max_s']:>8.3f}s "
        line += (f"{r['speedup']:>13.2f}x {r['efficiency']:>10.0%}" if weak else
                 f"{r['speedup']:>7.2f}x {r['efficiency']:>10.0%} {_fmt(r['karp_flatt'], '.3f'):>10}")
        line += f" {_fmt(r['startup_median_s'], '.2f'):>8}s"
        if quota:
            line += f" {_fmt(r['throttled_median_s'], '.2f'):>9}s"
        lines.append(line)
    if fit is None:
        lines.append("Amdahl fit: needs at least two worker counts")
    else:
        limit = "unbounded" if fit.serial_fraction == 0 else f"{fit.max_speedup:.1f}x"
        over = "the medians per unit of input, T / r" if weak else "the medians"
        lines.append(f"Amdahl fit (least squares over {over}): serial fraction f = "
                     f"{fit.serial_fraction:.3f} (T = {fit.serial_seconds:.3f} s + {fit.parallel_seconds:.3f} s"
                     f" / r), speedup limit 1/f = {limit}, rms residual {fit.rms_residual:.3f} s")
    if gustafson is not None:
        lines.append(f"Gustafson fit (least squares over the scaled speedups): serial fraction "
                     f"alpha = {gustafson.alpha:.3f} (S = r - alpha (r - 1)), "
                     f"rms residual {gustafson.rms_residual:.3f}")
    if quota:
        lines.append("throttled: seconds the workers of a run were held back by their CPU quota "
                     "(median over runs, all workers together)")
        loose = [str(r["workers"]) for r in rows if r["throttled_share"] < LOOSE_QUOTA]
        if loose:
            lines.append(f"note: at {', '.join(loose)} workers the quota held the workers back in "
                         f"under {LOOSE_QUOTA:.0%} of their periods: something else (the machine's "
                         "free cores, the driver, the master) limited them, not the quota")
    return "\n".join(lines)


def format_peers(peers: list[dict], reference: dict) -> str:
    """The --compare table: every engine's job time, start-up and ratios to minibig."""
    name = f"minibig, {reference['workers']} workers"
    lines = [f"{'engine':<34} {'job time':>9} {'start-up':>9}   {'job / minibig':<30} with start-up"]
    lines.append(f"{name:<34} {reference['median_s']:>8.3f}s "
                 f"{_seconds(reference.get('startup_median_s'))}   1.00")
    for p in peers:
        label = p["label"] + (f", {p['workers']} workers" if p["engine"] != "baseline" else "")
        if p["median_s"] is None:
            lines.append(f"{label:<34} {'':>9} {'':>9}   {p['note']}")
            continue
        ratio = p["slower_than_minibig"]
        verdict = f"minibig {ratio:.2f}x faster" if ratio >= 1 else f"minibig {1 / ratio:.2f}x slower"
        lines.append(f"{label:<34} {p['median_s']:>8.3f}s {_seconds(p['startup_median_s'])}   "
                     f"{f'{ratio:.2f}  ({verdict})':<30} {_fmt(p['slower_with_startup'], '.2f')}")
    return "\n".join(lines)


def machine() -> dict:
    """Where the numbers were taken."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}


def write_csv(path: str, rows: list[dict]) -> None:
    """The scaling table as CSV, one line per worker count (times joined by ';')."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in rows:
            line = {k: ("" if r[k] is None else r[k]) for k in CSV_FIELDS}
            line["times_s"] = ";".join(f"{t:.6f}" for t in r["times_s"])
            writer.writerow(line)


def write_json(path: str, document: dict) -> None:
    """The whole result (settings, table, fit, peers, machine) as JSON."""
    document = dict(document, machine=machine(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    with open(path, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
