"""Files users bring, read and written as PySpark 4 (local[2], Hadoop 3) does.

Each case was run on PySpark and on minibig with the same files: a UTF-8 byte
order mark is not part of a file's first line; globs take {a,b} and leave out
"_" and "." names; a comma inside {} does not cut a path list; a folder holding
a folder is refused, not half read; an empty path is an error, not the current
folder; the split size counts compressed files; a partition holds the lines
PySpark's holds (those starting in (start, end]), and an empty file makes none;
saveAsTextFile writes bytes that
are not UTF-8 as U+FFFD and refuses a lone surrogate; ~ is the home folder for
output as for input; of two jobs saving to one path at once, one wins; a damaged pickle file is an
error, not fewer records. The word count at the end runs the same files through a
shuffle, on two workers.
"""

import gzip
import os
import pickle
import re
import threading
from collections import Counter

import pytest

from minibig import Context
from minibig.errors import InputPathError, InvalidArgumentError, OutputExistsError

BOM = "\ufeff".encode("utf-8")


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2) as ctx:
        yield ctx


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize("min_partitions", [1, 2, 5, 40])
def test_a_byte_order_mark_is_not_part_of_the_first_line(sc, tmp_path, min_partitions):
    plain = write(tmp_path / "notes.txt", BOM + "première\r\nseconde\n".encode() + BOM + b"mid\n")
    assert sc.textFile(plain, min_partitions).collect() == ["première", "seconde", "\ufeffmid"]
    raw = sc.textFile(plain, min_partitions, use_unicode=False).collect()
    assert raw == ["première".encode(), b"seconde", BOM + b"mid"]
    zipped = write(tmp_path / "z" / "notes.txt.gz", BOM + b"zipped\n")
    assert sc.textFile(zipped).collect() == ["zipped"]
    # wholeTextFiles gives the file's text as it is, the mark included (as Spark's).
    assert sc.wholeTextFiles(plain).values().first().startswith("\ufeffpremière")


def test_globs_take_braces_and_leave_out_hidden_names(sc, tmp_path):
    for name in ["jan.log", "feb.log", "mar.log", "_draft.log", ".swap.log"]:
        write(tmp_path / name, f"{name}\n".encode())
    write(tmp_path / "2024" / "q1" / "x.log", b"deep\n")

    def read(pattern):
        return sorted(sc.textFile(str(tmp_path / pattern)).collect())
    assert read("{jan,mar}.log") == ["jan.log", "mar.log"]
    assert read("{jan,nothing}.log") == ["jan.log"]
    assert read("{j,f}*.log") == ["feb.log", "jan.log"]
    assert read("{2024/{q1,q2},none}/x.log") == ["deep"]
    assert read("*.log") == ["feb.log", "jan.log", "mar.log"]
    assert read("[^j]*.log") == ["feb.log", "mar.log"]
    listed = f"{tmp_path}/{{jan,feb}}.log,{tmp_path}/mar.log"
    assert sorted(sc.textFile(listed).collect()) == ["feb.log", "jan.log", "mar.log"]
    with pytest.raises(InputPathError, match="matches 0 files"):
        sc.textFile(str(tmp_path / "{apr,may}.log"))


def test_a_folder_holding_a_folder_is_refused_not_half_read(sc, tmp_path):
    write(tmp_path / "logs" / "today.txt", b"today\n")
    write(tmp_path / "logs" / "archive" / "old.txt", b"old\n")
    write(tmp_path / "logs" / "_tmp" / "skipped.txt", b"hidden folder\n")
    with pytest.raises(InputPathError, match="archive"):
        sc.textFile(str(tmp_path / "logs")).collect()
    sc.parallelize([1, 2]).saveAsPickleFile(str(tmp_path / "pickles"))
    os.mkdir(tmp_path / "pickles" / "more")
    with pytest.raises(InputPathError, match="more"):
        sc.pickleFile(str(tmp_path / "pickles"))
    # Named one level down, every file is read; a hidden folder is never looked into.
    assert sorted(sc.textFile(str(tmp_path / "logs" / "*")).collect()) == ["old", "today"]


@pytest.mark.parametrize("name", ["", " ", "{d},", ",{d}", "{d},,{d}"])
def test_an_empty_path_is_an_error_not_the_current_folder(sc, tmp_path, monkeypatch, name):
    write(tmp_path / "here.txt", b"current folder\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError, match="empty path"):
        sc.textFile(name.replace("{d}", str(tmp_path / "here.txt")))


def test_the_split_size_counts_compressed_files(sc, tmp_path):
    write(tmp_path / "small.txt", b"p1\np2\r\n")
    write(tmp_path / "big.gz", os.urandom(600))      # 600+ bytes on disk
    rdd = sc.textFile(str(tmp_path / "small.txt") + "," + str(tmp_path / "big.gz"), 3,
                      use_unicode=False)
    # goal size (7 + |big.gz|) / 3 is over 7 bytes: small.txt stays one split, as in Hadoop
    assert rdd.getNumPartitions() == 2
    assert rdd.glom().collect()[0] == [b"p1", b"p2"]


def test_saved_text_is_utf8_as_pyspark_writes_it(sc, tmp_path):
    out = tmp_path / "out"
    sc.parallelize([b"ok \xff\xfe end", "é".encode(), "plain"], 2).saveAsTextFile(str(out))
    written = b"".join((out / f).read_bytes() for f in sorted(os.listdir(out)))
    assert written == "ok \ufffd\ufffd end\né\nplain\n".encode()
    with pytest.raises(UnicodeEncodeError):
        sc.parallelize(["fine", "lone \udcff surrogate"], 2).saveAsTextFile(str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


def test_tilde_is_the_home_folder_for_output_as_for_input(sc, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    sc.parallelize(["a", "b"], 2).saveAsTextFile("~/saved")
    sc.parallelize([("k", 1)], 1).saveAsPickleFile("~/pickled")
    assert not (tmp_path / "~").exists()
    assert sorted(os.listdir(tmp_path / "home" / "saved")) == ["_SUCCESS", "part-00000",
                                                               "part-00001"]
    assert sc.textFile("~/saved").collect() == ["a", "b"]
    assert sc.pickleFile("~/pickled").collect() == [("k", 1)]


@pytest.mark.parametrize("min_partitions", [1, 3, 17, 90])
def test_word_count_over_awkward_files_matches_plain_python(sc, tmp_path, min_partitions):
    files = {
        "crlf.txt": b"the cat\r\nthe dog\r\n\r\n",
        "cr.txt": b"cat  dog\rthe end\r",
        "bom.txt": BOM + b"the start\nno final newline",
        "wide.txt": b"word " * 3000 + b"\n" + b"end\r\n" * 200,
        "gz.txt.gz": BOM + b"cat\r\ncat dog\n",
        "_ignored.txt": b"never counted\n",
    }
    for name, data in files.items():
        write(tmp_path / name, data)
    expected = Counter()
    for name, data in files.items():
        if not name.startswith("_"):
            expected.update(data.removeprefix(BOM).decode().split())
    counts = (sc.textFile(str(tmp_path), min_partitions)
              .flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b))
    assert sorted(counts.collect()) == sorted(expected.items())


def hadoop_partitions(data: bytes, min_partitions: int) -> list[list[bytes]]:
    """The lines of each split as Hadoop's LineRecordReader gives them: split [s, e) holds
    the lines that start at p with s < p <= e (and the split at 0 the first line)."""
    split = max(1, len(data) // min_partitions)
    bounds, s = [], 0
    while s < len(data):
        e = len(data) if len(data) - s <= split * 1.1 else s + split
        bounds.append((s, e))
        s = e
    starts, lines, pos = [], [], 0
    for m in re.finditer(rb"\r\n|\r|\n", data):
        starts.append(pos)
        lines.append(data[pos:m.start()])
        pos = m.end()
    if pos < len(data):
        starts.append(pos)
        lines.append(data[pos:])
    return [[line for p, line in zip(starts, lines) if s < p <= e or p == s == 0]
            for s, e in bounds]


@pytest.mark.parametrize("min_partitions", [2, 3, 4, 6, 9, 14])
def test_each_partition_holds_the_lines_pysparks_holds(sc, tmp_path, min_partitions):
    # Lines start right at split boundaries, and "\r\n" pairs straddle them.
    data = b"ab\ncd\nef\r\ngh\rij\r\n\r\nkl\n\nmn\rop"
    path = write(tmp_path / "edges.txt", data)
    got = sc.textFile(path, min_partitions, use_unicode=False).glom().collect()
    assert got == hadoop_partitions(data, min_partitions)


def test_an_empty_file_makes_no_partition(sc, tmp_path):
    write(tmp_path / "empty.txt", b"")
    write(tmp_path / "one.txt", b"one\n")
    assert sc.textFile(str(tmp_path / "empty.txt")).getNumPartitions() == 0
    assert sc.textFile(str(tmp_path), 1).glom().collect() == [["one"]]


def test_two_jobs_saving_to_one_path_at_once_one_wins_whole(sc, tmp_path):
    out = str(tmp_path / "contested")
    start = threading.Barrier(4)
    outcomes = []

    def save(tag):
        start.wait(timeout=60)
        try:
            sc.parallelize([f"{tag}{i}" for i in range(50)], 3).saveAsTextFile(out)
            outcomes.append(("saved", tag))
        except OutputExistsError:
            outcomes.append(("refused", tag))
    threads = [threading.Thread(target=save, args=(tag,)) for tag in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(kind for kind, _ in outcomes) == ["refused"] * 3 + ["saved"]
    winner = next(tag for kind, tag in outcomes if kind == "saved")
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert sc.textFile(out).collect() == [f"{winner}{i}" for i in range(50)]


def test_a_damaged_pickle_file_is_an_error_naming_it_not_fewer_records(sc, tmp_path):
    out = tmp_path / "pickles"
    sc.parallelize(range(100), 2).saveAsPickleFile(str(out), 10)
    part = out / "part-00001"
    part.write_bytes(part.read_bytes()[:-7])                  # the last batch cut short
    with pytest.raises(pickle.UnpicklingError, match="part-00001"):
        sc.pickleFile(str(out)).count()
    (tmp_path / "notes.txt").write_text("A plain text file\n")
    with pytest.raises(pickle.UnpicklingError, match="notes.txt"):
        sc.pickleFile(str(tmp_path / "notes.txt")).collect()


def test_a_backslash_makes_a_glob_character_plain(sc, tmp_path):
    # PySpark: a[1].txt is a glob (it matches a1.txt); a\[1\].txt names the file a[1].txt.
    for name in ["a[1].txt", "a1.txt", "n{1}.txt", "n1.txt", "c,d.txt", "c.txt"]:
        write(tmp_path / name, f"{name}\n".encode())
    read = {pattern: sc.textFile(str(tmp_path / pattern)).collect()
            for pattern in [r"a\[1\].txt", "a[1].txt", r"n\{1\}.txt", "n{1}.txt",
                            r"{c\,d,x}.txt", r"a\[1].txt"]}
    assert read == {r"a\[1\].txt": ["a[1].txt"], "a[1].txt": ["a1.txt"],
                    r"n\{1\}.txt": ["n{1}.txt"], "n{1}.txt": ["n1.txt"],
                    r"{c\,d,x}.txt": ["c,d.txt"], r"a\[1].txt": ["a[1].txt"]}


def test_a_file_holding_only_a_byte_order_mark_has_no_line(sc, tmp_path):
    # An empty file saved as "UTF-8 with BOM": Hadoop reads no line from it, as from "".
    only = write(tmp_path / "only.txt", BOM)
    assert sc.textFile(only).collect() == []
    assert sc.textFile(write(tmp_path / "z" / "only.txt.gz", BOM)).collect() == []
    assert sc.textFile(write(tmp_path / "nl.txt", BOM + b"\n"), 3).collect() == [""]
    assert sc.textFile(write(tmp_path / "x.txt", BOM + b"x"), 3).collect() == ["x"]


def test_a_damaged_compressed_file_is_an_error_naming_it(sc, tmp_path):
    whole = gzip.compress(b"".join(b"line %d\n" % i for i in range(5000)))
    write(tmp_path / "ok.txt", b"fine\n")
    (tmp_path / "cut.gz").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(EOFError, match="cut.gz"):
        sc.textFile(str(tmp_path)).count()
    (tmp_path / "cut.gz").write_bytes(whole[:20] + bytes(len(whole) - 20))
    with pytest.raises(Exception, match="cut.gz") as info:
        sc.textFile(str(tmp_path)).count()
    assert type(info.value).__name__ in ("error", "BadGzipFile")     # zlib's own types kept
    with pytest.raises(Exception, match="cut.gz"):
        sc.wholeTextFiles(str(tmp_path)).collect()


def test_a_long_line_is_read_in_a_few_reads_not_one_per_64_kb(monkeypatch, tmp_path):
    # Each read copied all that was held of the line: 80 MB in one line took 108 s.
    from minibig.rdd import textfile
    line = b"x" * (12 << 20)
    path = write(tmp_path / "long.txt", line + b"\nafter\n")
    reads = []

    class Counting:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def read(self, size=-1):
            reads.append(size)
            return self.f.read(size)

    monkeypatch.setattr(textfile, "open", lambda *a: Counting(open(*a)), raising=False)
    assert [len(x) for x in textfile.read_split(path, 0, 1 << 20)] == [len(line)]
    assert len(reads) < 40, f"{len(reads)} reads"
    assert list(textfile.read_split(path, 1 << 20, len(line) + 7)) == ["after"]


def test_a_pickle_file_of_a_newer_protocol_keeps_its_error_and_names_the_file(sc, tmp_path):
    out = tmp_path / "pickles"
    sc.parallelize(range(20), 2).saveAsPickleFile(str(out))
    (out / "part-00001").write_bytes(b"\x80\xc8" + bytes(20))   # pickle protocol 200
    with pytest.raises(ValueError, match="unsupported pickle protocol") as info:
        sc.pickleFile(str(out)).collect()
    assert "part-00001" in "\n".join(getattr(info.value, "__notes__", []))


class Tagged(str):
    """A str whose str() differs from its text."""

    def __str__(self):
        return "tag"


class Formatted:
    """An object whose format() differs from its str()."""

    def __str__(self):
        return "as str"

    def __format__(self, spec):
        return "as format"


def test_save_as_text_file_writes_what_pyspark_writes_for_each_type(sc, tmp_path):
    # PySpark 4 local[1] wrote: raw, as str, bytearray(b'ab'), by, 1.5, None
    out = tmp_path / "typed"
    records = [Tagged("raw"), Formatted(), bytearray(b"ab"), b"by", 1.5, None]
    sc.parallelize(records, 1).saveAsTextFile(str(out))
    assert (out / "part-00000").read_bytes() == b"raw\nas str\nbytearray(b'ab')\nby\n1.5\nNone\n"
