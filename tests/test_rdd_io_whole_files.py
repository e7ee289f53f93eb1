"""wholeTextFiles and binaryFiles, whole files as PySpark 4 reads them: a folder's
subfolders are skipped (textFile refuses them: tests/test_rdd_io_pyspark_behaviour.py),
and so are hidden files; binaryFiles gives each file's bytes as they are on disk."""

import gzip

import pytest

from minibig import Context
from minibig.errors import InputPathError


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2) as ctx:
        yield ctx


@pytest.fixture
def docs(tmp_path):
    (tmp_path / "docs" / "drafts").mkdir(parents=True)
    (tmp_path / "docs" / "readme.txt").write_text("read me\n")
    (tmp_path / "docs" / "drafts" / "wip.txt").write_text("not yet\n")
    (tmp_path / "docs" / "_notes.txt").write_text("hidden\n")
    return tmp_path / "docs"


def test_whole_text_files_skips_subfolders_as_spark_does(sc, docs):
    got = sc.wholeTextFiles(str(docs)).collect()
    assert got == [(f"file:{docs / 'readme.txt'}", "read me\n")]
    assert sc.wholeTextFiles(str(docs / "*")).count() == 2


def test_binary_files_are_the_bytes_on_disk(sc, docs):
    (docs / "blob.bin").write_bytes(bytes(range(256)))
    (docs / "empty.bin").write_bytes(b"")
    with gzip.open(docs / "packed.gz", "wb") as f:
        f.write(b"inside")
    packed = (docs / "packed.gz").read_bytes()
    rdd = sc.binaryFiles(str(docs), 3)
    got = dict(rdd.collect())
    assert got == {f"file:{docs / 'blob.bin'}": bytes(range(256)),
                   f"file:{docs / 'empty.bin'}": b"",
                   f"file:{docs / 'packed.gz'}": packed,
                   f"file:{docs / 'readme.txt'}": b"read me\n"}
    assert all(type(k) is str and type(v) is bytes for k, v in got.items())
    assert 1 <= rdd.getNumPartitions() <= 3
    braces = sc.binaryFiles(f"{docs}/{{blob.bin,drafts/wip.txt}}").values().collect()
    assert sorted(braces) == [bytes(range(256)), b"not yet\n"]
    with pytest.raises(InputPathError):
        sc.binaryFiles(str(docs / "missing"))
