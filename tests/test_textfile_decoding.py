"""Input that is not UTF-8: textFile replaces each undecodable sequence with
U+FFFD as PySpark does (str lines, or UTF-8 bytes with use_unicode=False),
and counts every replacement in sc.lastJob instead of hiding it."""

import gzip
import logging

BAD = b"caf\xe9 ok\n\xff\xfe two\r\nclean \xef\xbf\xbd kept\nlast\xc3"
STR_LINES = ["caf\ufffd ok", "\ufffd\ufffd two", "clean \ufffd kept", "last\ufffd"]
REPLACED = 4            # \xe9, \xff, \xfe, the cut-off \xc3; the EF BF BD was in the input


def test_undecodable_bytes_are_replaced_and_counted(sc, tmp_path, caplog):
    path = tmp_path / "latin1.txt"
    path.write_bytes(BAD)
    with caplog.at_level(logging.WARNING, logger="minibig"):
        assert sc.textFile(str(path), minPartitions=3).collect() == STR_LINES
    assert sc.lastJob.counters["replaced_characters"] == REPLACED
    assert "4 undecodable byte sequences" in caplog.text

    as_bytes = sc.textFile(str(path), use_unicode=False).collect()
    assert as_bytes == [line.encode("utf-8") for line in STR_LINES], "PySpark's bytes: UTF-8"
    assert sc.lastJob.counters["replaced_characters"] == REPLACED

    gz = tmp_path / "latin1.txt.gz"
    gz.write_bytes(gzip.compress(BAD))
    assert sc.textFile(str(gz)).count() == len(STR_LINES)
    assert sc.lastJob.counters["replaced_characters"] == REPLACED

    whole = sc.wholeTextFiles(str(path)).values().collect()
    assert whole == ["caf\ufffd ok\n\ufffd\ufffd two\r\nclean \ufffd kept\nlast\ufffd"]
    assert sc.lastJob.counters["replaced_characters"] == REPLACED


def test_clean_utf8_counts_nothing(sc, tmp_path):
    path = tmp_path / "utf8.txt"
    path.write_text("ünïcode 東京\nplain\n", encoding="utf-8")
    assert sc.textFile(str(path), use_unicode=False).collect() == ["ünïcode 東京".encode(), b"plain"]
    assert sc.lastJob.counters["replaced_characters"] == 0
