"""Runs one job written for both APIs on minibig's cluster and on mrjob's inline runner.

A job is written once, as a function of the classes it is given (`MRJOB` or
`MINIBIG`: its MRJob and MRStep), so that the same code runs on mrjob (the
oracle) and on minibig. Test modules that use it skip without mrjob.
"""

from __future__ import annotations

import io

import mrjob.compat
import mrjob.job
import mrjob.step

import minibig.mapreduce as minibig_api

MRJOB = (mrjob.job.MRJob, mrjob.step.MRStep)
MINIBIG = (minibig_api.MRJob, minibig_api.MRStep)


def run(job_class, args: list, stdin: bytes = b"") -> list:
    """The output pairs of one run of `job_class` over `stdin`, through its runner."""
    return run_with_counters(job_class, args, stdin)[0]


def run_with_counters(job_class, args: list, stdin: bytes = b"") -> tuple[list, list]:
    """(output pairs, counters) of one run of `job_class`, through its runner."""
    job = job_class(args=args)
    job.sandbox(stdin=io.BytesIO(stdin))
    with job.make_runner() as runner:
        runner.run()
        return list(job.parse_output(runner.cat_output())), runner.counters()


def both(make_job, args: list, stdin: bytes, sc) -> tuple[list, list]:
    """(minibig's pairs on the cluster, mrjob's on its inline runner), each sorted."""
    ours = run(make_job(*MINIBIG), [*args, "--master", sc.master], stdin)
    theirs = run(make_job(*MRJOB), [*args, "-r", "inline", "--no-conf"], stdin)
    return sorted(ours, key=repr), sorted(theirs, key=repr)


def jobconf_reader(MRJob):
    """The `jobconf_from_env` that goes with the API `MRJob` comes from."""
    if MRJob is minibig_api.MRJob:
        return minibig_api.jobconf_from_env
    return mrjob.compat.jobconf_from_env
