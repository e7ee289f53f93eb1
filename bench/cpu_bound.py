"""A CPU-bound job for scaling studies: `minibig bench bench/cpu_bound.py [--tasks N] [--work W]`.

Each of N tasks (default 32) runs a pure-Python loop of W iterations (default
2 000 000): no input to read, no shuffle, a result of N integers. Its serial
part is only the driver's and the cluster's per-task work, so under
`--cpu-quota` it shows what the quota alone does to speedup, and under
`--weak` (`--tasks {scale}0`) how flat its time stays as tasks grow with
the workers.

    minibig bench bench/cpu_bound.py --cpu-quota 0.25 --workers 1,2,4,8 --name cpu_bound_quota
"""

import argparse

from minibig import Context


def spin(work: int) -> int:
    """`work` iterations of integer arithmetic; their checksum."""
    total = 0
    for i in range(work):
        total += i % 7
    return total


def main(argv=None) -> None:
    """Run the tasks and check their answers against the closed form."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--work", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    work = args.work
    with Context(appName="cpu_bound") as sc:
        sums = sc.parallelize([work] * args.tasks, args.tasks).map(spin).collect()
    expected = 21 * (work // 7) + sum(range(work % 7))
    assert sums == [expected] * args.tasks, "a task computed a wrong checksum"
    print(f"{args.tasks} tasks x {work} iterations: checksum {expected}")


if __name__ == "__main__":
    main()
