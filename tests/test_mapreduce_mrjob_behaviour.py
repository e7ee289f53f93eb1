"""What mrjob's own unit tests showed minibig.mapreduce doing differently, each against mrjob.

mrjob's test suite (its job, inline, sim, step and protocol tests and the small
jobs they run) was run against minibig, each job ported by its import lines and
compared with mrjob's inline runner on the same input. The differences in what
minibig claims are tested here, with jobs of our own: each job is written once,
as a function of the API it is given (`mrjob`'s classes or minibig's), so that
the same code runs on mrjob's inline runner (the oracle) and on the session's
2-worker cluster.
"""

from __future__ import annotations

import pytest

import minibig.mapreduce as minibig_api

pytest.importorskip("mrjob.job", reason="mrjob is not installed (it is in the test extra)")
import mrjob.job  # noqa: E402
import mrjob.step  # noqa: E402
from mrjob_oracle import both, jobconf_reader  # noqa: E402


# -- -D settings are a dict in self.options.jobconf ------------------------------------------
def shelving_job(MRJob, MRStep):
    """Files each line under a label its `jobconf()` derives from the `-D shelf=...` given."""
    from_env = jobconf_reader(MRJob)

    class MRShelver(MRJob):
        def jobconf(self):
            # Read where mrjob's runner reads it: in the driver, from the parsed options.
            given = self.options.jobconf or {}
            return {**super().jobconf(), "shelf.label": given.get("shelf", "unsorted").upper()}

        def mapper(self, _, line):
            yield from_env("shelf.label"), line.strip()

        def reducer(self, label, titles):
            yield label, sorted(titles)
    return MRShelver


def test_jobconf_option_is_a_dict_of_the_last_setting(sc):
    # mrjob keeps -D pairs in a dict (the last one given wins); minibig kept a list of
    # pairs, so a job's `self.options.jobconf.get(...)` raised AttributeError.
    books = b"Middlemarch\nPersuasion\nEmma\n"
    ours, theirs = both(shelving_job, ["-D", "shelf=attic", "--jobconf", "shelf=study"], books, sc)
    assert theirs == [("STUDY", ["Emma", "Middlemarch", "Persuasion"])]
    assert ours == theirs


def test_jobconf_option_is_none_without_settings(sc):
    ours, theirs = both(shelving_job, [], b"Cranford\n", sc)
    assert theirs == [("UNSORTED", ["Cranford"])]
    assert ours == theirs
    assert minibig_api.MRJob(args=[]).options.jobconf is mrjob.job.MRJob(args=[]).options.jobconf


def test_jobconf_option_keeps_equals_signs_in_values():
    args = ["-D", "query=a=b", "-D", "empty="]
    assert (minibig_api.MRJob(args=args).options.jobconf
            == mrjob.job.MRJob(args=args).options.jobconf == {"query": "a=b", "empty": ""})


# -- MRStep.description: the first step, and a combiner, have a mapper -------------------------
def _noop(*_):
    return None


@pytest.mark.parametrize("given", [
    {"reducer": _noop},
    {"reducer_final": _noop},
    {"combiner": _noop},
    {"combiner": _noop, "reducer": _noop},
    {"mapper": _noop, "jobconf": {"mapreduce.job.reduces": "1"}},
    {"mapper_init": _noop},
])
@pytest.mark.parametrize("step_num", [0, 1])
def test_step_description_as_mrjob_describes_it(given, step_num):
    # mrjob runs the first step's input through a mapper (the identity when none is
    # given) and a combiner after one: its description names that mapper. minibig's
    # left it out of a first step with only a reducer or only a combiner.
    ours = minibig_api.MRStep(**given).description(step_num)
    theirs = mrjob.step.MRStep(**given).description(step_num)
    assert ours == theirs


# -- mapper_raw over stdin reads mrjob's copy of it -------------------------------------------
def sizing_job(MRJob, MRStep):
    """Yields the name and size of each file its raw mapper is given."""
    class MRFileSizer(MRJob):
        def mapper_raw(self, path, uri):
            with open(path, "rb") as f:
                yield uri.rsplit("/", 1)[-1], len(f.read())
    return MRFileSizer


@pytest.mark.parametrize("stdin", [b"two lines\nno newline at the end", b"ends\n", b""])
def test_mapper_raw_over_stdin_gets_mrjobs_copy(stdin, sc):
    # mrjob copies stdin to a file named STDIN, ending its last line with a newline;
    # minibig's copy was named `stdin` and kept a missing newline missing.
    ours, theirs = both(sizing_job, [], stdin, sc)
    assert theirs == [("STDIN", len(stdin.rstrip(b"\n")) + (1 if stdin else 0))]
    assert ours == theirs
