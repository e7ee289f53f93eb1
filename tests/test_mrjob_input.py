"""A job's input files are found and read as mrjob's inline runner finds and reads them.

mrjob walks a folder to the bottom, reads names starting with "_" or "."
inside it, matches globs as Python does, and keeps a UTF-8 byte order mark
on a file's first line; the engine's textFile (as Hadoop and PySpark)
refuses a folder inside a folder, leaves hidden names out and drops the
mark. Each case runs one job on the 2-worker cluster and on mrjob's inline
runner (`mrjob_oracle`), which is the oracle.
"""

from __future__ import annotations

import gzip
import os

import pytest

pytest.importorskip("mrjob.job", reason="mrjob is not installed (it is in the test extra)")
from mrjob_oracle import MINIBIG, both, run  # noqa: E402

BOM = b"\xef\xbb\xbf"


def line_count_job(MRJob, MRStep):
    """How many times each input line occurs."""
    class MRLineCount(MRJob):
        def mapper(self, _, line):
            yield line, 1

        def reducer(self, line, ones):
            yield line, sum(ones)
    return MRLineCount


def raw_paths_job(MRJob, MRStep):
    """The input files a mapper_raw job is handed, by their names."""
    class MRRawNames(MRJob):
        def mapper_raw(self, path, uri):
            yield os.path.basename(path), 1
    return MRRawNames


@pytest.fixture
def tree(tmp_path):
    """A folder holding files, hidden names, a BOM, a .gz, and folders two deep."""
    top = tmp_path / "in"
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "empty").mkdir()
    (top / "a.txt").write_bytes(BOM + b"marked first\nsecond\n")
    (top / "b.gz").write_bytes(gzip.compress(BOM + b"zipped marked\nzipped\n"))
    (top / "_under").write_bytes(b"underscore name\n")
    (top / ".dot").write_bytes(b"dot name\n")
    (top / "sub" / "c.txt").write_bytes(b"one down\nsecond\n")
    (top / "sub" / "_SUCCESS").write_bytes(b"")
    (top / "sub" / "deeper" / ".d.txt").write_bytes(b"two down, hidden\n")
    (top / "only_mark.txt").write_bytes(BOM)
    return top


def test_a_folder_is_read_to_the_bottom_hidden_names_and_marks_included(tree, sc):
    ours, theirs = both(line_count_job, [str(tree)], b"", sc)
    assert ours == theirs
    assert ("\ufeffmarked first", 1) in ours and ("two down, hidden", 1) in ours


def test_a_glob_matches_as_pythons_and_walks_the_folders_it_matches(tree, sc):
    ours, theirs = both(line_count_job, [str(tree / "*")], b"", sc)
    assert ours == theirs
    assert ("dot name", 1) not in ours and ("underscore name", 1) in ours


def test_the_mark_stays_on_the_first_line_only_whatever_the_splits(tmp_path, sc):
    path = tmp_path / "marked.txt"
    path.write_bytes(BOM + b"".join(b"line %d \xef\xbb\xbf inside\n" % i for i in range(300)))
    ours, theirs = both(line_count_job, [str(path), "-D", "mapreduce.job.maps=7"], b"", sc)
    assert ours == theirs
    assert sum(key.startswith("\ufeff") for key, _ in ours) == 1


def test_mapper_raw_is_handed_every_file_under_a_folder(tree, sc):
    job = raw_paths_job(*MINIBIG)
    names = sorted(key for key, _ in run(job, [str(tree), "--master", sc.master]))
    on_disk = sorted(name for _, _, names in os.walk(tree) for name in names)
    assert names == on_disk


def test_a_file_whose_name_holds_a_comma_is_one_path(tmp_path, sc):
    path = tmp_path / "left,right.txt"
    path.write_bytes(b"comma named\n")
    ours, theirs = both(line_count_job, [str(path)], b"", sc)
    assert ours == theirs == [("comma named", 1)]
