"""What a user of mrjob's runners meets first, on minibig, each against mrjob.

mrjob's runner tests (its sim, local, runner and launch tests) and its
example jobs were run against minibig in session 15, with jobs of the
session's own: inputs of every kind, output folders, counters, hooks,
jobconf, passthrough and file arguments, protocols, errors. The
differences in what minibig claims are tested here, with the cases that
held and no other test covers; each job is written once for both APIs
(`mrjob_oracle`) and mrjob's inline runner is the oracle.
"""

from __future__ import annotations

import bz2
import gzip
import io
import optparse
import os
import re

import pytest

pytest.importorskip("mrjob.job", reason="mrjob is not installed (it is in the test extra)")
from mrjob_oracle import MINIBIG, MRJOB, jobconf_reader, run_with_counters  # noqa: E402


def counting_job(MRJob, MRStep):
    """Counts words, and the lines and distinct words it met."""
    class MRTally(MRJob):
        def mapper(self, _, line):
            self.increment_counter("lines", "seen")
            for word in line.split():
                yield word, 1

        def combiner(self, word, counts):
            yield word, sum(counts)

        def reducer(self, word, counts):
            self.increment_counter("words", "distinct")
            yield word, sum(counts)
    return MRTally


def sorted_run(job_class, args: list, stdin: bytes = b"") -> tuple[list, list]:
    """(pairs sorted, counters) of one run through the runner."""
    pairs, counters = run_with_counters(job_class, args, stdin)
    return sorted(pairs, key=repr), counters


def on_both(make_job, args: list, sc, stdin: bytes = b"") -> tuple[tuple, tuple]:
    """((pairs, counters) on minibig's cluster, the same on mrjob's inline runner)."""
    return (sorted_run(make_job(*MINIBIG), [*args, "--master", sc.master], stdin),
            sorted_run(make_job(*MRJOB), [*args, "-r", "inline", "--no-conf"], stdin))


# -- --no-output: mrjob's older name for --no-cat-output ---------------------------------------
def printed(make_job, api, args: list) -> bytes:
    """What the job writes to its stdout when run as from the command line."""
    job = make_job(*api)(args=args)
    job.sandbox(stdin=io.BytesIO(b"to be or not to be\n"))
    job.execute()
    return job.stdout.getvalue()


@pytest.mark.parametrize("switch", [["--no-output"], ["--no-cat-output"], []])
def test_no_output_switch_as_mrjob_reads_it(switch, sc):
    # mrjob 0.7.4 keeps --no-output as an alias of --no-cat-output; minibig refused the
    # job's arguments as unrecognized.
    ours = printed(counting_job, MINIBIG, ["--master", sc.master, "-q", *switch])
    theirs = printed(counting_job, MRJOB, ["-r", "inline", "--no-conf", "-q", *switch])
    assert sorted(ours.splitlines()) == sorted(theirs.splitlines())
    assert (theirs == b"") == bool(switch)


def test_no_output_with_an_output_dir(sc, tmp_path):
    out = tmp_path / "out"
    assert printed(counting_job, MINIBIG, ["--master", sc.master, "-q", "-o", str(out),
                                           "--no-output"]) == b""
    assert (out / "_SUCCESS").exists()


# -- --num-cores: mrjob's local runner's name for the embedded cluster's size -----------------
def where_job(MRJob, MRStep):
    """Yields the process id each line was mapped in."""
    class MRWhere(MRJob):
        def mapper(self, _, line):
            yield os.getpid(), 1

        def reducer(self, pid, ones):
            yield pid, sum(ones)
    return MRWhere


def test_num_cores_sizes_the_embedded_cluster(tmp_path):
    # `-r local --num-cores N` is how mrjob's local runner is told how many tasks to run
    # at once; minibig refused the switch. It sizes the embedded cluster (--workers).
    assert MINIBIG[0](args=["--num-cores", "3"]).options.workers == 3
    assert MINIBIG[0](args=["--workers", "2", "--num-cores", "1"]).options.workers == 1
    text = tmp_path / "lines.txt"
    text.write_text("".join(f"line {i}\n" for i in range(200)))
    pairs, _ = sorted_run(where_job(*MINIBIG), ["-r", "local", "--num-cores", "1", "-q",
                                                 "-D", "mapreduce.job.maps=4", str(text)])
    assert len(pairs) == 1                            # every map task in the one worker
    pid, lines = pairs[0]
    assert pid != os.getpid() and lines == 200


# -- pick_protocols: refused rather than ignored ----------------------------------------------
def picking_job(MRJob, MRStep):
    """Overrides mrjob's pick_protocols to write its output as `key=value` lines."""
    class MRPicky(MRJob):
        def pick_protocols(self, step_num, step_type):
            read, write = super().pick_protocols(step_num, step_type)
            if step_type == "reducer":
                return read, lambda key, value: f"{key}={value}".encode()
            return read, write

        def mapper(self, _, line):
            yield line, 1

        def reducer(self, line, ones):
            yield line, sum(ones)
    return MRPicky


def test_a_job_overriding_pick_protocols_is_refused(sc):
    # mrjob writes what pick_protocols picks; minibig ignored the override and wrote
    # JSON lines. It does not pick protocols per step, so it now says so before running.
    theirs = picking_job(*MRJOB)(args=["-r", "inline", "--no-conf"])
    theirs.sandbox(stdin=io.BytesIO(b"b\na\nb\n"))
    with theirs.make_runner() as runner:
        runner.run()
        assert sorted(b"".join(runner.cat_output()).split()) == [b"a=1", b"b=2"]
    ours = picking_job(*MINIBIG)(args=["--master", sc.master])
    ours.sandbox(stdin=io.BytesIO(b"b\na\nb\n"))
    with pytest.raises(NotImplementedError, match="pick_protocols"):
        with ours.make_runner() as runner:
            runner.run()


# -- what held, that no other test covers --------------------------------------------------------
@pytest.fixture
def inputs(tmp_path):
    """Plain, CRLF, gzip, bzip2 and folder inputs (the folder holds two files)."""
    (tmp_path / "plain.txt").write_bytes(b"the cat sat\non the mat\n")
    (tmp_path / "crlf.txt").write_bytes(b"a dog\r\n\r\nthe end")
    (tmp_path / "lines.gz").write_bytes(gzip.compress(b"the gz line\nthe the\n"))
    (tmp_path / "lines.bz2").write_bytes(bz2.compress(b"bz the\nzz\n"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "one.txt").write_bytes(b"folder one\n")
    (tmp_path / "folder" / "two.txt").write_bytes(b"folder two the\n")
    return tmp_path


def test_every_kind_of_input_at_once(sc, inputs):
    args = [str(inputs / name) for name in ("plain.txt", "crlf.txt", "lines.gz", "lines.bz2",
                                            "folder")]
    ours, theirs = on_both(counting_job, [*args, "-"], sc, stdin=b"from stdin the\n")
    assert dict(theirs[0])["the"] == 9 and theirs[1] == [{"lines": {"seen": 12},
                                                          "words": {"distinct": 17}}]
    assert ours == theirs


def test_output_dir_that_does_not_exist_yet(sc, inputs):
    out = inputs / "new" / "deeper"
    job = counting_job(*MINIBIG)(args=[str(inputs / "plain.txt"), "-o", str(out),
                                       "--master", sc.master])
    with job.make_runner() as runner:
        runner.run()
        ours = sorted(job.parse_output(runner.cat_output()))
        assert runner.get_output_dir() == str(out)
    theirs, _ = sorted_run(counting_job(*MRJOB), [str(inputs / "plain.txt"), "-r", "inline",
                                                  "--no-conf"])
    assert ours == theirs
    assert (out / "_SUCCESS").exists()


def flaky_second_step(MRJob, MRStep):
    """Two steps, counting in each; step 2's reducer fails its first attempt (--marker)."""
    class MRFlakySecond(MRJob):
        def configure_args(self):
            super().configure_args()
            self.add_passthru_arg("--marker")

        def steps(self):
            return [MRStep(mapper=self.words, reducer=self.count),
                    MRStep(mapper=self.as_pair, reducer=self.gather)]

        def words(self, _, line):
            self.increment_counter("step 1", "lines")
            for word in line.split():
                yield word, 1

        def count(self, word, ones):
            yield word, sum(ones)

        def as_pair(self, word, n):
            self.increment_counter("step 2", "pairs")
            yield None, [word, n]

        def gather(self, _, pairs):
            self.increment_counter("step 2", "reducer calls")
            pairs = sorted(pairs)
            marker = self.options.marker
            if marker and not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("the first attempt fails, after counting")
            yield "all", pairs
    return MRFlakySecond


def test_counters_of_a_retried_reducer_in_a_later_step_count_once(sc, inputs):
    marker = inputs / "failed-once"
    args = [str(inputs / "plain.txt"), str(inputs / "crlf.txt")]
    ours = sorted_run(flaky_second_step(*MINIBIG), [*args, "--marker", str(marker),
                                                    "--master", sc.master])
    theirs = sorted_run(flaky_second_step(*MRJOB), [*args, "-r", "inline", "--no-conf"])
    assert marker.exists()                            # an attempt did fail
    assert ours == theirs
    assert theirs[1][1]["step 2"] == {"pairs": 8, "reducer calls": 1}


def test_runner_before_and_after_its_run(sc):
    # Output asked for before run(), or a second run(): mrjob raises ValueError, minibig
    # raised RuntimeError.
    for api, args in ((MINIBIG, ["--master", sc.master]), (MRJOB, ["-r", "inline", "--no-conf"])):
        job = counting_job(*api)(args=args)
        job.sandbox(stdin=io.BytesIO(b"a b\n"))
        with job.make_runner() as runner:
            assert runner.counters() == []
            with pytest.raises(ValueError, match="(?i)run"):
                list(runner.cat_output())
            runner.run()
            assert sorted(job.parse_output(runner.cat_output())) == [("a", 1), ("b", 1)]
            with pytest.raises(ValueError):
                runner.run()


# -- the job's and the task's ids, as mrjob's runners simulate Hadoop's -----------------------
def id_job(MRJob, MRStep):
    """Yields each task's ids; writes a side file named by its attempt (--side-dir), and a
    map task fails its first attempt when --marker is given."""
    env = jobconf_reader(MRJob)

    class MRIds(MRJob):
        def configure_args(self):
            super().configure_args()
            self.add_passthru_arg("--side-dir")
            self.add_passthru_arg("--marker")

        def steps(self):
            return [MRStep(mapper_init=self.ids, mapper=self.skip, mapper_final=self.side_file,
                           reducer=self.pass_on, reducer_final=self.reducer_ids),
                    MRStep(reducer=self.pass_on, reducer_final=self.reducer_ids)]

        def ids(self):
            yield "map", [env("mapreduce.job.id"), env("mapreduce.task.id"), env("mapred.task.id")]

        def skip(self, _, line):
            return None

        def side_file(self):
            if self.options.side_dir:
                open(os.path.join(self.options.side_dir, env("mapreduce.task.attempt.id")), "w").close()
            marker = self.options.marker
            if marker and not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("the first attempt fails")

        def pass_on(self, kind, ids):
            for found in ids:
                yield kind, found

        def reducer_ids(self):
            yield f"reducer {env('mapreduce.task.attempt.id')}", env("mapreduce.job.id")
    return MRIds


def test_task_ids_as_mrjob_names_them(sc):
    # mrjob's runners give tasks mapreduce.job.id (the runner's job key), mapreduce.task.id
    # and mapreduce.task.attempt.id; minibig gave None.
    for api, args in ((MINIBIG, ["--master", sc.master, "--num-reducers", "1"]),
                      (MRJOB, ["-r", "inline", "--no-conf", "--num-cores", "1"])):
        job = id_job(*api)(args=args)
        job.sandbox(stdin=io.BytesIO(b"one line\n"))
        with job.make_runner() as runner:
            runner.run()
            key = runner.get_job_key()
            pairs = dict(job.parse_output(runner.cat_output()))
        assert key.startswith(f"{os.path.basename(__file__)[:-3]}.")
        expected = {"map": [key, f"task_{key}_mapper_00000", f"attempt_{key}_mapper_00000_0"],
                    f"reducer attempt_{key}_reducer_00000_0": key,          # step 1
                    f"reducer attempt_{key}_reducer_00010_0": key}          # step 2
        # mrjob's inline runner may add a reduce task with no keys: its reducer_final's pair.
        assert expected.items() <= pairs.items(), api
        assert all(re.fullmatch(f"reducer attempt_{re.escape(key)}_reducer_00[01]{{3}}_0", name)
                   for name in pairs.keys() - expected.keys())


def test_a_retried_task_has_its_own_attempt_id(sc, tmp_path):
    side = tmp_path / "side"
    side.mkdir()
    job = id_job(*MINIBIG)(args=["--master", sc.master, "--side-dir", str(side),
                                 "--marker", str(tmp_path / "failed-once")])
    job.sandbox(stdin=io.BytesIO(b"one line\n"))
    with job.make_runner() as runner:
        runner.run()
        key = runner.get_job_key()
    names = sorted(os.listdir(side))
    assert len(names) == 2 and names[0][:-1] == names[1][:-1]
    assert names[0].startswith(f"attempt_{key}_mapper_0000")
    assert [name[-2:] for name in names] == ["_0", "_1"]             # the failed one, its retry


# -- a job written for mrjob 0.5: configure_options, optparse's keywords --------------------
def options_job(MRJob, MRStep, old_names: bool):
    """Repeats each line --times times, upper-cased unless --no-shout, after the first line
    of --prefix-file, with --mood and the --label-with values; its options declared with
    mrjob 0.5's names and optparse's keywords (`old_names`) or with mrjob 0.6's."""
    class MRRepeat(MRJob):
        def declare(self, add, add_file):
            typed = {"int": "int", "choice": "choice"} if old_names else {"int": int}
            add("--times", "-n", type=typed["int"], default=1)
            add("--no-shout", action="store_false", dest="shout", default=True)
            add("--mood", type=typed.get("choice", str), choices=["calm", "loud"], default="calm")
            add("--label-with", "-l", action="append", dest="labels", default=[])
            add_file("--prefix-file")

        if old_names:
            def configure_options(self):
                super().configure_options()
                self.declare(self.add_passthrough_option, self.add_file_option)
        else:
            def configure_args(self):
                super().configure_args()
                self.declare(self.add_passthru_arg, self.add_file_arg)

        def mapper_init(self):
            with open(self.options.prefix_file) as f:
                self.prefix = f.readline().rstrip("\n")

        def mapper(self, _, line):
            text = line.upper() if self.options.shout else line
            for n in range(self.options.times):
                yield f"{self.prefix}{text}", [n, self.options.mood, self.options.labels]
    return MRRepeat


def test_a_job_written_for_mrjob_0_5_reads_its_options(sc, tmp_path):
    # minibig offers mrjob 0.5's configure_options, add_passthrough_option and
    # add_file_option, but never called a job's configure_options (mrjob 0.6 did), and
    # passed optparse's type names ("int", "choice") to argparse, which refused them.
    prefix = tmp_path / "prefix.txt"
    prefix.write_text("> \nnot this line\n")
    args = ["-n2", "--no-shout", "--mood", "loud", "-l", "a", "--label-with", "b", "--prefix-file",
            str(prefix)]
    ours = sorted_run(options_job(*MINIBIG, old_names=True), [*args, "--master", sc.master],
                      b"ab\ncd\n")
    theirs = sorted_run(options_job(*MRJOB, old_names=False), [*args, "-r", "inline",
                                                                "--no-conf"], b"ab\ncd\n")
    assert theirs[0] == [("> ab", [0, "loud", ["a", "b"]]), ("> ab", [1, "loud", ["a", "b"]]),
                         ("> cd", [0, "loud", ["a", "b"]]), ("> cd", [1, "loud", ["a", "b"]])]
    assert ours == theirs
    with pytest.raises(ValueError, match="invalid choice"):
        options_job(*MINIBIG, old_names=True)(args=["--mood", "sad"])


def test_optparse_help_of_a_mrjob_0_5_option_prints_as_optparse_prints_it():
    # optparse prints help as written, %default put in; argparse %-formats help, so this
    # one made `--help` raise TypeError.
    declared = dict(type="float", default=0.25, help="share kept (default: %default), 100% safe")

    class MRShare(MINIBIG[0]):
        def configure_options(self):
            super().configure_options()
            self.add_passthrough_option("--share", **declared)

        def mapper(self, _, line):
            yield line, self.options.share

    reference = optparse.OptionParser()
    reference.add_option("--share", **declared)
    expected = " ".join(reference.format_option_help().split("--share=SHARE")[1].split())
    assert expected == "share kept (default: 0.25), 100% safe"
    assert expected in " ".join(MRShare(args=[]).arg_parser.format_help().split())


@pytest.mark.parametrize("declared, refused", [
    (dict(action="callback", callback=print), "optparse callbacks are not supported"),
    (dict(type="date"), "unknown option type 'date'"),
])
def test_an_optparse_keyword_minibig_cannot_take_is_refused_naming_the_option(declared, refused):
    class MRDeclares(MINIBIG[0]):
        def configure_options(self):
            super().configure_options()
            self.add_passthrough_option("--since", "-s", **declared)

        def mapper(self, _, line):
            yield line, 1

    with pytest.raises(TypeError, match=f"--since/-s: {refused}"):
        MRDeclares(args=[])


def test_output_of_a_run_that_failed(sc):
    # mrjob raises ValueError; minibig read the output folder it did not have (TypeError).
    def failing_job(MRJob, MRStep):
        class MRFails(MRJob):
            def mapper(self, _, line):
                raise KeyError(line)
        return MRFails

    for api, args in ((MINIBIG, ["--master", sc.master]), (MRJOB, ["-r", "inline", "--no-conf"])):
        job = failing_job(*api)(args=args)
        job.sandbox(stdin=io.BytesIO(b"a b\n"))
        with job.make_runner() as runner:
            with pytest.raises(KeyError):
                runner.run()
            with pytest.raises(ValueError):
                list(runner.cat_output())
