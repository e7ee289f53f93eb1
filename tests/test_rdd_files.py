"""Reading and writing files: textFile, wholeTextFiles, saveAsTextFile, pickle files.

textFile must never lose or repeat a line at a split boundary, whatever the
split size (down to one byte), line terminator ("\\n", "\\r\\n", "\\r"),
empty lines, missing final newline or multi-byte UTF-8 character. Output
must be all or nothing: a failing task leaves no part file and no _SUCCESS.
"""

import bz2
import gzip
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibig import Context
from minibig.errors import InputPathError
from minibig.rdd.textfile import TextFileRDD, expand_paths, plan_splits

SETTINGS = settings(max_examples=25, deadline=None)

line_text = st.text(alphabet=st.sampled_from("ab é東\t"), max_size=6)
terminators = st.sampled_from(["\n", "\r\n", "\r"])


def lines_of(text: str) -> list[str]:
    """What Hadoop's LineReader (and so Spark's textFile) reads from `text`."""
    if not text:
        return []
    lines = re.split("\r\n|\r|\n", text)
    if text.endswith(("\n", "\r")):
        lines.pop()
    return lines


@st.composite
def files(draw):
    lines = draw(st.lists(line_text, max_size=12))
    text = "".join(line + draw(terminators) for line in lines)
    if draw(st.booleans()):
        text += draw(line_text)                     # a last line without newline
    return text


@SETTINGS
@given(texts=st.lists(files(), min_size=1, max_size=3), split_size=st.integers(1, 12))
def test_text_file_splits_never_lose_or_repeat_a_line(sc, tmp_path_factory, texts, split_size):
    folder = tmp_path_factory.mktemp("lines")
    for i, text in enumerate(texts):
        with open(folder / f"part{i}.txt", "w", encoding="utf-8", newline="") as f:
            f.write(text)
    found = expand_paths(str(folder))
    rdd = TextFileRDD(sc, plan_splits(found, 2, split_size), str(folder))
    assert rdd.collect() == [line for text in texts for line in lines_of(text)]


@pytest.mark.parametrize("split_size", [1, 3, 16, 1 << 20])
def test_text_file_through_the_split_size_setting(sc, tmp_path, split_size):
    text = "first\r\n\r\nsecond — ünïcode\rthird\n\nlast"
    (tmp_path / "mixed.txt").write_bytes(text.encode("utf-8"))
    with Context(master=sc.master, split_size=split_size) as ctx:
        rdd = ctx.textFile(str(tmp_path / "mixed.txt"))
        assert rdd.collect() == ["first", "", "second — ünïcode", "third", "", "last"]
        if split_size == 1:
            assert rdd.getNumPartitions() == len(text.encode("utf-8"))


def test_text_file_reads_directories_globs_lists_and_compressed_files(sc, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("in")
    (tmp_path / "a.txt").write_text("a1\na2\n")
    (tmp_path / "b.log").write_text("b1\r\nb2")
    with gzip.open(tmp_path / "c.txt.gz", "wt", encoding="utf-8", newline="") as f:
        f.write("c1\r\nc2\n東京\n")
    with bz2.open(tmp_path / "d.txt.bz2", "wt", encoding="utf-8") as f:
        f.write("d1\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").write_text("never\n")
    sub = tmp_path_factory.mktemp("sub")
    (sub / "e.txt").write_text("e1\n")
    everything = ["a1", "a2", "b1", "b2", "c1", "c2", "東京", "d1"]
    assert sorted(sc.textFile(str(tmp_path)).collect()) == sorted(everything)
    assert sc.textFile(str(tmp_path / "*.txt*")).collect() == ["a1", "a2", "c1", "c2", "東京", "d1"]
    listed = f"{tmp_path / 'b.log'},{sub}"
    assert sc.textFile(listed).collect() == ["b1", "b2", "e1"]
    assert sc.textFile(str(tmp_path / "c.txt.gz")).getNumPartitions() == 1
    assert sc.textFile(str(tmp_path / "a.txt"), use_unicode=False).collect() == [b"a1", b"a2"]


def test_text_file_of_a_missing_path_is_a_clear_error(sc, tmp_path):
    with pytest.raises(InputPathError):
        sc.textFile(str(tmp_path / "nope*.txt"))


def test_text_file_min_partitions_and_empty_files(sc, tmp_path):
    (tmp_path / "big.txt").write_text("".join(f"line {i}\n" for i in range(5000)))
    (tmp_path / "empty.txt").write_text("")
    rdd = sc.textFile(str(tmp_path), minPartitions=7)
    assert rdd.getNumPartitions() >= 7
    assert rdd.collect() == [f"line {i}" for i in range(5000)]


def test_whole_text_files(sc, tmp_path):
    contents = {"one.txt": "a\r\nb\n", "two.txt": "ünïcode 東京", "three.txt": ""}
    for name, text in contents.items():
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    with gzip.open(tmp_path / "four.txt.gz", "wt", encoding="utf-8") as f:
        f.write("zipped\n")
    contents["four.txt.gz"] = "zipped\n"
    rdd = sc.wholeTextFiles(str(tmp_path), minPartitions=3)
    got = dict(rdd.collect())
    assert got == {f"file:{tmp_path / name}": text for name, text in contents.items()}
    assert 1 <= rdd.getNumPartitions() <= 4
    raw = dict(sc.wholeTextFiles(str(tmp_path / "one.txt"), use_unicode=False).collect())
    assert raw == {f"file:{tmp_path / 'one.txt'}".encode(): b"a\r\nb\n"}


def test_save_as_text_file_round_trip_with_bytes_and_unicode(sc, tmp_path):
    records = ["plain", "ünïcode 東京", b"raw bytes", 42, None, ("t", 1), ""]
    out = tmp_path / "out"
    sc.parallelize(records, 3).saveAsTextFile(str(out))
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    expected = [r.decode() if isinstance(r, bytes) else str(r) for r in records]
    assert sc.textFile(str(out)).collect() == expected


@pytest.mark.parametrize("codec, suffix", [("org.apache.hadoop.io.compress.GzipCodec", ".gz"),
                                           ("org.apache.hadoop.io.compress.BZip2Codec", ".bz2")])
def test_save_as_text_file_with_a_codec(sc, tmp_path, codec, suffix):
    out = tmp_path / "compressed"
    sc.parallelize(["a", "b", "ü"], 2).saveAsTextFile(str(out), codec)
    assert sorted(os.listdir(out)) == ["_SUCCESS", f"part-00000{suffix}", f"part-00001{suffix}"]
    assert sc.textFile(str(out)).collect() == ["a", "b", "ü"]


def test_save_as_text_file_refuses_an_unknown_codec(sc, tmp_path):
    with pytest.raises(ValueError, match="codec"):
        sc.parallelize(["a"]).saveAsTextFile(str(tmp_path / "x"), "com.example.Snappy")


def test_save_of_an_empty_dataset_writes_only_success(sc, tmp_path):
    sc.parallelize([], 2).saveAsTextFile(str(tmp_path / "empty"))
    assert sorted(os.listdir(tmp_path / "empty")) == ["_SUCCESS", "part-00000", "part-00001"]
    assert sc.textFile(str(tmp_path / "empty")).count() == 0


def test_save_refuses_an_existing_output_directory(sc, tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        sc.parallelize([1]).saveAsTextFile(str(out))
    with pytest.raises(FileExistsError):
        sc.parallelize([1]).saveAsPickleFile(str(out))
    assert os.listdir(out) == ["keep.txt"]


def test_failing_task_leaves_no_partial_output_and_no_success(sc, tmp_path):
    def explode_in_partition_two(split, it):
        for i, x in enumerate(it):
            if split == 2 and i == 5:
                raise RuntimeError("disk on fire")
            yield x
    out = tmp_path / "failed"
    rdd = sc.parallelize(range(400), 4).mapPartitionsWithIndex(explode_in_partition_two)
    with pytest.raises(RuntimeError, match="disk on fire"):
        rdd.saveAsTextFile(str(out))
    assert not out.exists(), "no part file, no _temporary, no _SUCCESS"
    with pytest.raises(RuntimeError):
        rdd.saveAsPickleFile(str(tmp_path / "failed_pickles"))
    assert not (tmp_path / "failed_pickles").exists()
    # The same path works once the data is fixed.
    sc.parallelize(range(400), 4).saveAsTextFile(str(out))
    assert sorted(map(int, sc.textFile(str(out)).collect())) == list(range(400))


records = st.one_of(st.integers(), st.none(), st.text(max_size=5),
                    st.tuples(st.integers(), st.text(max_size=3)),
                    st.lists(st.integers(), max_size=3), st.floats(allow_nan=False))


@settings(max_examples=15, deadline=None)
@given(data=st.lists(records, max_size=40), n=st.integers(1, 5), batch=st.integers(1, 12))
def test_pickle_file_round_trip(sc, tmp_path_factory, data, n, batch):
    out = tmp_path_factory.mktemp("pickles") / "out"
    sc.parallelize(data, n).saveAsPickleFile(str(out), batch)
    assert sorted(os.listdir(out)) == ["_SUCCESS"] + [f"part-{i:05d}" for i in range(n)]
    back = sc.pickleFile(str(out))
    assert back.getNumPartitions() == n
    assert back.collect() == data
