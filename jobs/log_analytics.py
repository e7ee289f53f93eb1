"""Log analytics over a real dpkg log: what was installed, when, by which run, how fast.

dpkg, Debian's package tool, appends one line per event to /var/log/dpkg.log:

    2025-06-24 14:36:25 startup archives unpack
    2025-06-24 14:36:25 upgrade libsystemd0:amd64 252.36-1~deb12u1 252.38-1~deb12u1
    2025-06-24 14:36:25 status half-configured libsystemd0:amd64 252.36-1~deb12u1

Shows the everyday shape of a log job, and these RDD ideas:

* parse once, **cache**, then run several small aggregations over the cache
  (`countByValue`, `reduceByKey` + `sortByKey`);
* **broadcast** a small lookup table built by a first job (the start times of
  the dpkg runs), so every worker assigns events to runs with a binary search
  instead of a join against the big side;
* **join** two event types by key: when each (package, version) was unpacked,
  and when it became `installed`, to find the slowest packages to configure;
* `zipWithIndex` to keep the file order of events that share a timestamp,
  so "the last status of each package" is well defined.

    python jobs/log_analytics.py                              # datasets/logs/dpkg.log
    python jobs/log_analytics.py /var/log/dpkg.log --top 10
    minibig submit --workers 2 jobs/log_analytics.py datasets/logs/dpkg.log
"""

import argparse
import bisect
import os
from datetime import datetime
from operator import add

from minibig import Context

SHIPPED_LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "logs",
                           "dpkg.log")
PACKAGE_ACTIONS = {"install", "upgrade", "remove", "purge", "configure", "trigproc"}


def parse(line):
    """One event as a tuple (timestamp, action, package, detail), or None for a malformed line.

    detail is the new version for package actions, (state, version) for
    status lines, the startup kind for startup lines.
    """
    fields = line.split()
    if len(fields) < 4:
        return None
    stamp, action, rest = f"{fields[0]} {fields[1]}", fields[2], fields[3:]
    if action in PACKAGE_ACTIONS and len(rest) >= 3:
        return stamp, action, rest[0], rest[2]
    if action == "status" and len(rest) >= 3:
        return stamp, action, rest[1], (rest[0], rest[2])
    if action == "startup":
        return stamp, action, None, " ".join(rest)
    if action == "conffile":
        return stamp, action, None, " ".join(rest)
    return None


def seconds_between(start, end):
    fmt = "%Y-%m-%d %H:%M:%S"
    return (datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds()


def analyse(sc, path, top=5):
    """Print the report for the dpkg log at `path`."""
    lines = sc.textFile(path)
    events = lines.map(parse).filter(lambda e: e is not None).cache()
    print(f"{lines.count()} lines, {events.count()} events")

    print("\nevents by action:")
    for action, n in sorted(events.map(lambda e: e[1]).countByValue().items(),
                            key=lambda an: (-an[1], an[0])):
        print(f"  {action:<10} {n}")

    print("\npackages unpacked (install/upgrade) per day:")
    per_day = (events.filter(lambda e: e[1] in ("install", "upgrade"))
                     .map(lambda e: ((e[0][:10], e[1]), 1))
                     .reduceByKey(add)
                     .map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
                     .groupByKey()
                     .sortByKey())
    for day, counts in per_day.collect():
        print(f"  {day}  " + ", ".join(f"{n} {action}" for action, n in sorted(counts)))

    # Runs: every "startup archives unpack" opens one. The list is small: broadcast it.
    starts = sorted(events.filter(lambda e: e[1] == "startup" and e[3].startswith("archives"))
                          .map(lambda e: e[0]).collect())
    runs = sc.broadcast(starts)

    def run_of(stamp):
        return bisect.bisect_right(runs.value, stamp) - 1
    biggest = (events.filter(lambda e: e[1] in ("install", "upgrade"))
                     .map(lambda e: (run_of(e[0]), 1))
                     .filter(lambda kv: kv[0] >= 0)
                     .reduceByKey(add)
                     .takeOrdered(top, key=lambda kv: (-kv[1], kv[0])))
    print(f"\n{len(starts)} dpkg runs; the biggest:")
    for run, n in biggest:
        print(f"  run {run + 1:>2} started {starts[run]}: {n} packages unpacked")

    # Join: first unpack time and first "installed" time of each (package, version).
    unpacked = (events.filter(lambda e: e[1] in ("install", "upgrade"))
                      .map(lambda e: ((e[2], e[3]), e[0])).reduceByKey(min))
    installed = (events.filter(lambda e: e[1] == "status" and e[3][0] == "installed")
                       .map(lambda e: ((e[2], e[3][1]), e[0])).reduceByKey(min))
    slowest = (unpacked.join(installed)
                       .mapValues(lambda times: seconds_between(*times))
                       .filter(lambda kv: kv[1] >= 0)
                       .takeOrdered(top, key=lambda kv: (-kv[1], kv[0])))
    print("\nslowest from unpacked to installed:")
    for (package, version), seconds in slowest:
        print(f"  {seconds:>5.0f} s  {package} {version}")

    upgraded = (events.filter(lambda e: e[1] == "upgrade")
                      .map(lambda e: (e[2], (e[0], e[3])))
                      .groupByKey()
                      .mapValues(lambda vs: [v for _, v in sorted(vs)])
                      .takeOrdered(top, key=lambda kv: (-len(kv[1]), kv[0])))
    print("\nmost upgraded packages:")
    for package, versions in upgraded:
        print(f"  {package}: {len(versions)} upgrade(s), now {versions[-1]}")

    # The last status line of each package, in file order (several share a second).
    last_status = (events.zipWithIndex()
                         .filter(lambda ei: ei[0][1] == "status")
                         .map(lambda ei: (ei[0][2], (ei[0][0], ei[1], ei[0][3][0])))
                         .reduceByKey(max)
                         .mapValues(lambda latest: latest[2]))
    states = last_status.values().countByValue()
    print(f"\n{last_status.count()} packages seen; their last state: "
          + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))
    arches = last_status.keys().map(lambda p: p.rsplit(":", 1)[-1] if ":" in p else "?")
    print("architectures: " + ", ".join(f"{n} {arch}" for arch, n in
                                        sorted(arches.countByValue().items())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_LOG),
                        help="dpkg log file(s): a file, folder or glob (default: the shipped log)")
    parser.add_argument("--top", type=int, default=5, help="rows in each ranking")
    args = parser.parse_args()
    with Context(appName="log-analytics") as sc:
        analyse(sc, args.input, args.top)


if __name__ == "__main__":
    main()
