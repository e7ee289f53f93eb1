"""The speedup curve as a PNG: measured, ideal, and Amdahl's fit.

matplotlib is an optional extra (`pip install minibig[bench]`); without it
`plot_speedup` returns None and the caller prints a one-line note. It is
imported here only, with the non-interactive Agg backend, so a benchmark
never needs a display.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap

import numpy as np

from minibig.benchmark.report import LOOSE_QUOTA


def available() -> bool:
    """True when matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_speedup(path: str, rows: list[dict], fit, title: str, gustafson=None,
                 weak: bool = False, quota: float | None = None) -> str | None:
    """Draw speedup against workers into `path`; None when matplotlib is missing.

    Weak scaling (`weak`): the scaled speedups, with Gustafson's fit beside
    Amdahl's. Under a CPU quota per worker the dotted line marks the worker
    count that fills the machine's cores (cores / quota), not the cores.
    """
    if not available():
        return None
    import matplotlib                     # an optional extra (minibig[bench]): only for plots
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = np.array([r["workers"] for r in rows], dtype=float)
    base_workers = workers.min()
    base_median = rows[0]["median_s"]
    measured = np.array([r["speedup"] for r in rows])
    # The spread of each count's runs, as speedups against the baseline's median
    # (scaled by the input's growth under weak scaling).
    grow = workers / base_workers if weak else np.ones_like(workers)
    low = measured - grow * np.array([base_median / r["max_s"] for r in rows])
    high = grow * np.array([base_median / r["min_s"] for r in rows]) - measured

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    span = np.linspace(base_workers, max(workers.max(), base_workers * 2), 200)
    ax.plot(span, span / base_workers, linestyle="--", color="0.55", label="ideal (linear)")
    if fit is not None:
        ax.plot(span, [fit.predict_speedup(w / base_workers) for w in span], color="tab:orange",
                label=f"Amdahl fit, serial fraction {fit.serial_fraction:.2f}")
    if gustafson is not None:
        ax.plot(span, [gustafson.predict_speedup(w / base_workers) for w in span], color="tab:green",
                label=f"Gustafson fit, serial fraction {gustafson.alpha:.2f}")
    ax.errorbar(workers, measured, yerr=[np.maximum(low, 0), np.maximum(high, 0)], marker="o",
                color="tab:blue", capsize=4, label="measured (median, min-max)")
    loose = [i for i, r in enumerate(rows) if (r.get("throttled_share") or 1.0) < LOOSE_QUOTA]
    if quota and loose:
        ax.plot(workers[loose], measured[loose], "o", color="white", markeredgecolor="tab:blue", zorder=5,
                label=f"the quota throttled under {LOOSE_QUOTA:.0%} of periods: not what bound it")
    cores = os.cpu_count() or 1
    full = cores / quota if quota else cores
    if base_workers < full <= span.max():
        label = (f"{cores} cores = {full:g} workers x {quota:g} CPU" if quota else f"{cores} cores")
        ax.axvline(full, color="0.8", linestyle=":", label=label)
    ax.set_xlabel("workers")
    ax.set_ylabel(f"{'scaled ' if weak else ''}speedup over {int(base_workers)} "
                  f"worker{'s' if base_workers > 1 else ''}")
    ax.set_xticks(workers)
    ax.set_title(textwrap.fill(title, 80), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
