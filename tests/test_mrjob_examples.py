"""mrjob's own example jobs, ported to minibig by their import lines, against mrjob's inline runner.

mrjob ships its example jobs inside its package (`mrjob/examples/`). Each is
read from the installed package at run time (nothing of mrjob's is copied
into this repository) and ported as the README tells a user to port a job:
its import lines change and nothing else (`port`). The port runs on the
session's 2-worker cluster through the runner API (`--master`), the
original on mrjob's inline runner in this process, on the same input:
slices of the shipped novels, mrjob's `docs-to-classify`, and small logs and
WET files generated here. Outputs are compared as mrjob defines them: the
(key, value) pairs that the job's OUTPUT_PROTOCOL decodes (`parse_output`),
as multisets, since the order across reducers is not defined; where an order
is (a SORT_VALUES reducer's output for one key), it is compared too; float
sums, whose values arrive in another order, to 1e-9 relatively; random
samples by what a sample must be. Two ports also run through `minibig submit`.

Examples that need what minibig does not claim are in NOT_CLAIMED with the
reason; each is checked to be refused with an error naming what it lacks,
never run into a different answer. Every example file of the installed
mrjob must be in one of the two lists.
"""

from __future__ import annotations

import collections
import glob
import importlib
import importlib.util
import io
import json
import math
import os
import random
import re
import subprocess
import sys

import pytest

from support import REPO, env, key_file_for

pytest.importorskip("mrjob.examples", reason="mrjob is not installed (it is in the test extra; "
                    "mrjob 0.7.4 does not import on Python 3.13)")
import mrjob.examples  # noqa: E402

EXAMPLES = os.path.dirname(mrjob.examples.__file__)
TEXT = os.path.join(REPO, "datasets", "text")
TIMEOUT = 120

# The port: mrjob's job API modules become minibig.mapreduce, and an example that imports
# another imports that one's port beside it. mrjob's general helpers (`mrjob.util`,
# `mrjob.py2`: `cmd_line`, `to_unicode`, `file_ext`, `urlparse`) are not its job API: a
# job keeps importing them from mrjob.
JOB_API_IMPORT = re.compile(r"^from mrjob\.(?:job|step|protocol|compat) import ", re.M)
EXAMPLE_IMPORT = re.compile(r"^from mrjob\.examples\.(\w+) import ", re.M)

# Examples that need what minibig does not claim: the reason, and the error a port meets.
NOT_CLAIMED = {
    "mr_grep": ("mapper_cmd: a shell command as the mapper", NotImplementedError, "mapper_cmd"),
    "mr_words_containing_u_freq_count": (
        "mapper_pre_filter: a shell filter before the mapper", NotImplementedError,
        "mapper_pre_filter"),
    "mr_jar_step_example": ("JarStep: a Hadoop jar as a step", ImportError, "GENERIC_ARGS"),
    "mr_spark_wordcount": ("spark(): a Spark job as a step", NotImplementedError, r"spark\(\)"),
    "mr_spark_most_used_word": ("spark(): a Spark job as a step", NotImplementedError,
                                r"spark\(\)"),
    "mr_sparkaboom": ("spark(): a Spark job as a step", NotImplementedError, r"spark\(\)"),
    "mr_spark_wordcount_script": ("SparkScriptStep: a PySpark script as a step", ImportError,
                                  "INPUT"),
}
#: Files of mrjob/examples that are not jobs.
NOT_JOBS = {
    "__init__": "the package's marker",
    "spark_wordcount_script": "a PySpark script (the step of mr_spark_wordcount_script), not a job",
}


# -- porting and running ------------------------------------------------------------------
def port(name: str, folder) -> str:
    """The example's source with its mrjob imports changed to minibig's, written to
    `folder`; returns its path. Only import lines may change."""
    with open(os.path.join(EXAMPLES, f"{name}.py"), encoding="utf-8") as f:
        source = f.read()
    ported = EXAMPLE_IMPORT.sub(r"from \1 import ", JOB_API_IMPORT.sub(
        "from minibig.mapreduce import ", source))
    changed = [new for old, new in zip(source.splitlines(), ported.splitlines()) if old != new]
    assert changed and all(line.startswith("from ") and " import " in line for line in changed)
    path = os.path.join(folder, f"{name}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(ported)
    return path


def load_port(name: str, folder, monkeypatch):
    """Port `name` and the examples it imports into `folder` and load them, as a user's
    modules beside each other (in sys.modules until the test ends)."""
    with open(os.path.join(EXAMPLES, f"{name}.py"), encoding="utf-8") as f:
        imported = EXAMPLE_IMPORT.findall(f.read())
    for module_name in [*imported, name]:
        spec = importlib.util.spec_from_file_location(module_name, port(module_name, folder))
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, module_name, module)
        spec.loader.exec_module(module)
    return module


def job_class(module):
    """The job class a module defines (the one its `__main__` block runs)."""
    found = [v for v in vars(module).values()
             if isinstance(v, type) and v.__module__ == module.__name__ and hasattr(v, "steps")]
    assert len(found) == 1, found
    return found[0]


def run_job(cls, args: list) -> tuple[list, list]:
    """(output pairs, counters) of one run of `cls` with `args`, through its runner."""
    job = cls(args=args)
    with job.make_runner() as runner:
        runner.run()
        return list(job.parse_output(runner.cat_output())), runner.counters()


def mrjob_run(name: str, args: list) -> tuple[list, list]:
    """The example itself (imported from mrjob) on mrjob's inline runner (which keeps its
    temporary folder in /tmp after a failure unless told not to)."""
    module = importlib.import_module(f"mrjob.examples.{name}")
    return run_job(job_class(module), [*args, "-r", "inline", "--no-conf",
                                       "--cleanup-on-failure", "ALL"])


class Runs:
    """One test's runs of an example: its port on the cluster, the original on mrjob."""

    def __init__(self, sc, folder, monkeypatch, caplog):
        self.sc, self.folder, self.monkeypatch, self.caplog = sc, folder, monkeypatch, caplog

    def minibig(self, name: str, args: list) -> tuple[list, list]:
        """The example's port on the session's cluster."""
        module = load_port(name, self.folder, self.monkeypatch)
        return run_job(job_class(module), [*args, "--master", self.sc.master])

    def mrjob(self, name: str, args: list) -> tuple[list, list]:
        """The example on mrjob's inline runner."""
        return mrjob_run(name, args)

    def same(self, name: str, args: list) -> tuple[list, list]:
        """Both runs' pairs, checked to be the same multiset, with the same counters."""
        ours, our_counters = self.minibig(name, args)
        theirs, their_counters = self.mrjob(name, args)
        assert theirs, "mrjob's run gives no output: a comparison that cannot fail"
        assert_same_pairs(ours, theirs)
        assert our_counters == their_counters
        return ours, theirs


# -- comparing ----------------------------------------------------------------------------
def canonical(item) -> str:
    """A text standing for `item` up to float rounding (for sorting pairs to compare)."""
    def rounded(x):
        if isinstance(x, float):
            return float(f"{x:.6g}")
        if isinstance(x, (list, tuple)):
            return [rounded(v) for v in x]
        if isinstance(x, dict):
            return {str(k): rounded(v) for k, v in x.items()}
        return x
    return json.dumps(rounded(item), sort_keys=True)


def close(a, b) -> bool:
    """Equal, floats to 1e-9 relatively (sums taken in another order), dicts in any order."""
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(close, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def assert_same_pairs(ours: list, theirs: list) -> None:
    """The same multiset of pairs (floats to 1e-9)."""
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for a, b in zip(sorted(ours, key=canonical), sorted(theirs, key=canonical)):
        assert close(a, b), (a, b)


def by_first_key_item(pairs: list) -> dict:
    """{key[0]: [pairs in output order]}: one reducer key's output, in the order it came."""
    runs = collections.defaultdict(list)
    for pair in pairs:
        runs[pair[0][0]].append(pair)
    return dict(runs)


# -- inputs -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Files the examples read: slices of the shipped novels, a log, mrjob's documents."""
    folder = tmp_path_factory.mktemp("inputs")
    made = {}
    for name, source, lines in (("persuasion", "austen_persuasion.txt", 2500),
                                ("northanger", "austen_northanger_abbey.txt", 1200),
                                ("emma", "austen_emma.txt", 600)):
        with open(os.path.join(TEXT, source), encoding="utf-8") as f:
            head = [next(f) for _ in range(lines)]
        made[name] = str(folder / f"{name}.txt")
        with open(made[name], "w", encoding="utf-8") as f:
            f.writelines(head)
    rng = random.Random(14)
    made["log"] = str(folder / "access.log")
    with open(made["log"], "w", encoding="utf-8") as f:
        for n in range(300):
            f.write(f"10.0.{rng.randrange(256)}.{rng.randrange(256)} - - [03/Dec/2026:09:{n % 60:02d}]"
                    f" \"GET /item/{n} HTTP/1.1\" {rng.choice([200, 200, 304, 404])} {n * 7}\n")
    made["docs"] = sorted(glob.glob(os.path.join(EXAMPLES, "docs-to-classify", "*.txt")))
    made["stop_words"] = os.path.join(EXAMPLES, "stop_words.txt")
    return made


def write_wet(path: str, pages: list) -> None:
    """A WET file (WARC `conversion` records of plain text), as Common Crawl publishes."""
    from warcio.warcwriter import WARCWriter
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=False)
        for url, text in pages:
            writer.write_record(writer.create_warc_record(
                url, "conversion", payload=io.BytesIO(text.encode("utf-8")),
                warc_headers_dict={"Content-Type": "text/plain"}))


# -- the examples that run on both ----------------------------------------------------------
def check_word_freq_count(inputs, run: Runs):
    ours, _ = run.same("mr_word_freq_count", [inputs["persuasion"]])
    assert dict(ours)["anne"] > 10


def check_most_used_word(inputs, run: Runs):
    # FILES = ['stop_words.txt'] is not supported (docs/mapreduce.md): the alternate file
    # the job offers for it is given to both runs.
    ours, _ = run.same("mr_most_used_word", [inputs["persuasion"], "--stop-words-file",
                                            inputs["stop_words"]])
    assert len(ours) == 1


def check_wc(inputs, run: Runs):
    run.same("mr_wc", [inputs["persuasion"], inputs["emma"]])


def check_next_word_stats(inputs, run: Runs):
    ours, theirs = run.same("mr_next_word_stats", [inputs["emma"]])
    # SORT_VALUES: each word's followers reach its reducer sorted, and come out in that order.
    assert by_first_key_item(ours) == by_first_key_item(theirs)


def check_count_lines_by_file(inputs, run: Runs):
    files = [inputs["persuasion"], inputs["northanger"]]
    # Several map tasks per file (mapreduce.job.maps): each must name its own file.
    ours, _ = run.same("mr_count_lines_by_file", [*files, "-D", "mapreduce.job.maps=6"])
    assert ours and dict(ours) == {f"file://{f}": sum(1 for _ in open(f, "rb")) for f in files}


def check_count_lines_right(inputs, run: Runs):
    run.same("mr_count_lines_right", [inputs["persuasion"], inputs["emma"]])


def check_count_lines_wrong(inputs, run: Runs):
    # One (None, lines) pair per map task: how the input is cut into tasks is the runner's.
    args = [inputs["persuasion"], inputs["emma"], "-D", "mapreduce.job.maps=4"]
    ours, _ = run.minibig("mr_count_lines_wrong", args)
    theirs, _ = run.mrjob("mr_count_lines_wrong", args)
    assert {k for k, _ in ours} == {k for k, _ in theirs} == {None}
    assert sum(v for _, v in ours) == sum(v for _, v in theirs) == 2500 + 600
    assert len(ours) >= 4


def check_boom(inputs, run: Runs):
    errors = []
    for side in (run.minibig, run.mrjob):
        with pytest.raises(Exception) as raised:
            side("mr_boom", [inputs["emma"]])
        errors.append(raised.value)
    assert [(type(e), e.args) for e in errors] == [(Exception, ("BOOM",))] * 2


def check_log_sampler(inputs, run: Runs):
    with open(inputs["log"], encoding="utf-8") as f:
        lines = f.readlines()           # as mrjob's parse_output reads a raw value: its newline kept
    # A sample at least as big as the log is all of it, in a random order.
    args = [inputs["log"], "--sample-size", "1000"]
    ours, _ = run.minibig("mr_log_sampler", args)
    theirs, _ = run.mrjob("mr_log_sampler", args)
    assert sorted(ours) == sorted(theirs) == sorted((None, line) for line in lines)
    # A smaller one: that many distinct lines of the log. Expecting 7 lines, the mapper keeps
    # every line (7 * 1.2 / 7 >= 1) and the reducer stops at 7: exactly 7, never none; expecting
    # all of them, each line is kept with probability 7 * 1.2 / 300: 7 at most, maybe fewer.
    for expected, exactly in ((7, True), (len(lines), False)):
        args = [inputs["log"], "--sample-size", "7", "--expected-length", str(expected)]
        for sample, _ in (run.minibig("mr_log_sampler", args),
                          run.mrjob("mr_log_sampler", args)):
            values = [v for _, v in sample]
            assert len(values) == len(set(values)) <= 7 and set(values) <= set(lines)
            assert len(values) == 7 or not exactly
            assert {k for k, _ in sample} <= {None}


def check_phone_to_url(inputs, run: Runs):
    pytest.importorskip("warcio", reason="warcio is not installed: the job reads WET files with it")
    write_wet(str(run.folder / "a.wet"), [
        ("http://a.example/", "call 415-555-1234 or (212) 555 9876"),
        ("http://b.example/x", "415.555.1234 today; fax 212.555.9876"),
        ("http://b.example/longer/page", "415 555 1234")])
    write_wet(str(run.folder / "b.wet"), [
        ("http://c.example/long/path", "phone 1-800-555-0000, 415 555 1234"),
        ("http://d.example/", "no phone here"),
        ("http://e.example/", "+1 (650) 555-0101")])
    ours, _ = run.same("mr_phone_to_url", [str(run.folder / "a.wet"), str(run.folder / "b.wet")])
    assert len(ours) == 4


def check_text_classifier(inputs, run: Runs):
    ours, _ = run.same("mr_text_classifier", inputs["docs"])
    scored = [v for (kind, _), v in ours if kind == "doc"]
    assert len(scored) == len(inputs["docs"]) and all(doc["cat_to_score"] for doc in scored)


def check_nick_nack(inputs, run: Runs):
    run.same("mr_nick_nack", [inputs["emma"]])
    assert "HADOOP_OUTPUT_FORMAT" in run.caplog.text          # minibig ignores it, and says so


def check_nick_nack_input_format(inputs, run: Runs):
    run.same("mr_nick_nack_input_format", [inputs["emma"]])
    assert "HADOOP_INPUT_FORMAT" in run.caplog.text


COMPARED = {
    "mr_word_freq_count": check_word_freq_count,
    "mr_most_used_word": check_most_used_word,
    "mr_wc": check_wc,
    "mr_next_word_stats": check_next_word_stats,
    "mr_count_lines_by_file": check_count_lines_by_file,
    "mr_count_lines_right": check_count_lines_right,
    "mr_count_lines_wrong": check_count_lines_wrong,
    "mr_boom": check_boom,
    "mr_log_sampler": check_log_sampler,
    "mr_phone_to_url": check_phone_to_url,
    "mr_text_classifier": check_text_classifier,
    "mr_nick_nack": check_nick_nack,
    "mr_nick_nack_input_format": check_nick_nack_input_format,
}


@pytest.mark.parametrize("name", sorted(COMPARED))
def test_example_gives_mrjobs_answer(name, inputs, sc, tmp_path, monkeypatch, caplog):
    COMPARED[name](inputs, Runs(sc, tmp_path, monkeypatch, caplog))


@pytest.mark.parametrize("name", sorted(NOT_CLAIMED))
def test_unclaimed_example_is_refused_by_name(name, inputs, sc, tmp_path, monkeypatch):
    _reason, error, names = NOT_CLAIMED[name]
    with pytest.raises(error, match=names):
        module = load_port(name, tmp_path, monkeypatch)
        run_job(job_class(module), [inputs["emma"], *(["-e", "x"] if name == "mr_grep" else []),
                                    "--master", sc.master])


def test_every_example_is_compared_or_listed():
    found = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(EXAMPLES, "*.py"))}
    listed = set(COMPARED) | set(NOT_CLAIMED) | set(NOT_JOBS)
    assert found == listed, (f"new: {sorted(found - listed)}", f"gone: {sorted(listed - found)}")
    assert not set(COMPARED) & set(NOT_CLAIMED)


# -- every protocol, read back by parse_output ---------------------------------------------
# A job of this test's own, written against mrjob and ported the same way: what each output
# protocol writes and parse_output reads back, after each internal protocol, on both.
PROTOCOLS_JOB = """
from mrjob.job import MRJob
from mrjob.protocol import (BytesProtocol, BytesValueProtocol, JSONProtocol, JSONValueProtocol,
                            PickleProtocol, PickleValueProtocol, RawProtocol, RawValueProtocol,
                            ReprProtocol, ReprValueProtocol, StandardJSONProtocol,
                            StandardJSONValueProtocol, TextProtocol, TextValueProtocol)


class MRProtocols(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--output")
        self.add_passthru_arg("--internal")

    def output_protocol(self):
        return PROTOCOLS[self.options.output]()

    def internal_protocol(self):
        return PROTOCOLS[self.options.internal]()

    def mapper(self, _, line):
        key, value = line.split(" ", 1)
        yield key, (value, len(value))

    def reducer(self, key, values):
        text = " ".join(sorted(value for value, _ in values))
        if self.options.output.startswith("Bytes"):
            yield key.encode(), text.encode()
        elif self.options.output.startswith(("Raw", "Text")):
            yield key, text
        else:
            yield (key, 1), {"v": text, "t": (1, 2.5)}


PROTOCOLS = {name: value for name, value in dict(globals()).items() if name.endswith("Protocol")}
"""
OUTPUTS = ["BytesProtocol", "BytesValueProtocol", "JSONProtocol", "JSONValueProtocol",
           "PickleProtocol", "PickleValueProtocol", "RawProtocol", "RawValueProtocol",
           "ReprProtocol", "ReprValueProtocol", "StandardJSONProtocol",
           "StandardJSONValueProtocol", "TextProtocol", "TextValueProtocol"]


@pytest.mark.parametrize("internal", ["JSONProtocol", "PickleProtocol", "ReprProtocol"])
def test_each_output_protocol_reads_back_as_with_mrjob(internal, tmp_path, monkeypatch):
    theirs_file = tmp_path / "theirs" / "mr_protocols.py"
    theirs_file.parent.mkdir()
    theirs_file.write_text(PROTOCOLS_JOB)
    ours_file = tmp_path / "mr_protocols.py"
    ours_file.write_text(JOB_API_IMPORT.sub("from minibig.mapreduce import ", PROTOCOLS_JOB))
    data = tmp_path / "in.txt"
    data.write_text("a x y\nb y\na z\nc  \u00e9\tq\n", encoding="utf-8")
    classes = []
    for path in (ours_file, theirs_file):
        spec = importlib.util.spec_from_file_location(f"mr_protocols_{len(classes)}", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)     # mrjob finds its script there
        spec.loader.exec_module(module)
        classes.append(module.MRProtocols)
    ours_cls, theirs_cls = classes
    for output in OUTPUTS:
        args = [str(data), "--output", output, "--internal", internal, "-r", "inline"]
        ours, _ = run_job(ours_cls, args)
        theirs, _ = run_job(theirs_cls, [*args, "--no-conf"])
        assert len(theirs) == 3 and sorted(ours, key=repr) == sorted(theirs, key=repr), output


# -- through `minibig submit`, as a user runs a job file -------------------------------------
@pytest.mark.parametrize("name, extra", [
    ("mr_word_freq_count", []),
    ("mr_most_used_word", ["--stop-words-file", "{stop_words}"]),
])
def test_minibig_submit_runs_a_ported_example(name, extra, inputs, sc, tmp_path):
    script = port(name, tmp_path)
    args = [inputs["northanger"], *(a.format(**inputs) for a in extra)]
    done = subprocess.run([sys.executable, "-m", "minibig", "submit", "--master", sc.master,
                           script, *args], capture_output=True, cwd=str(tmp_path),
                          env=env(MINIBIG_KEY_FILE=key_file_for(sc.master)), timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    module = importlib.import_module(f"mrjob.examples.{name}")
    job = job_class(module)(args=["--no-conf"])
    ours = list(job.parse_output([done.stdout]))
    theirs, _ = mrjob_run(name, args)
    assert theirs
    assert_same_pairs(ours, theirs)
