"""Paths given as file: URIs, as PySpark programs give them (Hadoop's names).

PySpark's test_context.test_basic_checkpointing expects getCheckpointDir() and
getCheckpointFile() to be file: URIs; programs also pass `file:///...` to
textFile and saveAsTextFile. minibig takes a file: URI as its local path
everywhere, gives checkpoint folders back as PySpark does, and refuses
another filesystem's URI with a typed error instead of writing under a
relative folder named after the scheme.
"""

from __future__ import annotations

import os

import pytest

from minibig import Context
from minibig.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2, appName="file-uris") as ctx:
        yield ctx


@pytest.mark.parametrize("form", ["file://{}", "file:{}", "file://localhost{}"])
def test_text_and_pickle_files_round_trip_through_file_uris(sc, tmp_path, form, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # a wrong relative "file:" folder would land here
    lines = ["alder", "beech", "yew", "rowan"]
    text_out, pickle_out = tmp_path / "text", tmp_path / "pickled"
    sc.parallelize(lines, 2).saveAsTextFile(form.format(text_out))
    sc.parallelize(lines, 2).saveAsPickleFile(form.format(pickle_out))
    assert sorted(os.listdir(text_out)) == ["_SUCCESS", "part-00000", "part-00001"]
    assert not os.path.exists(tmp_path / "file:")
    assert sorted(sc.textFile(form.format(text_out)).collect()) == sorted(lines)
    assert sorted(sc.pickleFile(form.format(pickle_out)).collect()) == sorted(lines)
    part = form.format(text_out / "part-00000")
    assert sc.textFile(part).collect() == lines[:2]


def test_checkpoint_folders_are_given_as_pyspark_gives_them(sc, tmp_path):
    sc.setCheckpointDir("file://" + str(tmp_path))
    folder = sc.getCheckpointDir()
    assert folder.startswith("file:" + str(tmp_path) + os.sep)
    assert os.path.isdir(folder[len("file:"):])
    rdd = sc.parallelize(range(8), 2).map(lambda x: x * x)
    rdd.checkpoint()
    assert rdd.getCheckpointFile() is None
    assert rdd.sum() == sum(x * x for x in range(8))
    assert os.path.dirname(rdd.getCheckpointFile()) == folder
    # What getCheckpointFile names reads back as a pickle file (minibig's checkpoint format).
    assert sorted(sc.pickleFile(rdd.getCheckpointFile()).collect()) == [x * x for x in range(8)]


@pytest.mark.parametrize("uri", ["hdfs://namenode:8020/logs", "s3a://bucket/logs"])
def test_another_filesystems_uri_is_refused_by_name(sc, uri):
    with pytest.raises(InvalidArgumentError, match="local paths"):
        sc.textFile(uri)
    with pytest.raises(InvalidArgumentError, match="local paths"):
        sc.parallelize([1]).saveAsTextFile(uri)
    with pytest.raises(InvalidArgumentError, match="local paths"):
        sc.setCheckpointDir(uri)


def test_a_colon_in_a_relative_path_is_still_a_path(sc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc.parallelize(["x"], 1).saveAsTextFile("notes:2024")
    assert sc.textFile("notes:2024").collect() == ["x"]


def test_a_hash_or_question_mark_in_a_file_uri_is_part_of_the_name(sc, tmp_path):
    # urlparse took them for a fragment and a query: the job wrote /…/c and read another file
    out = tmp_path / "c#notes?v2"
    sc.parallelize(["fir", "oak"], 1).saveAsTextFile("file://" + str(out))
    assert sorted(os.listdir(tmp_path)) == ["c#notes?v2"]
    assert sc.textFile("file:" + str(out)).collect() == ["fir", "oak"]
    spaced = tmp_path / "a b"
    sc.parallelize(["elm"], 1).saveAsTextFile((tmp_path / "a b").as_uri())   # %20, as pathlib writes
    assert sc.textFile(spaced.as_uri()).collect() == ["elm"]
