"""Sources: what they read, and that seek(offset()) resumes exactly there."""

import socket
import threading
import time

from minibig.streaming import (DirectorySource, GeneratorSource, IterableSource, SocketSource,
                               StreamingContext, TailFileSource, TumblingWindow)


def drain(source, batch=3, polls=50):
    records = []
    for _ in range(polls):
        records.extend(source.poll(batch))
        if source.finished:
            break
    return records


def test_iterable_source_rewinds_to_an_offset():
    source = IterableSource(range(10))
    source.open(None)
    source.poll(4)
    offset = source.offset()
    rest = drain(source)
    source.seek(offset)
    assert drain(source) == rest == [4, 5, 6, 7, 8, 9]


def test_generator_source_is_seeded_replayable_and_splits_without_overlap():
    source = GeneratorSource(count=5000, keys=7, disorder=4, seed=3)
    source.open(None)
    first = drain(source, batch=700, polls=100)
    again = GeneratorSource(count=5000, keys=7, disorder=4, seed=3)
    again.open(None)
    again.seek(2500)
    assert drain(again, batch=999, polls=100) == first[2500:]
    assert all(i - 4 <= ts <= i for i, (ts, _, _) in enumerate(first))
    halves = [GeneratorSource(count=5000, keys=7, seed=3).split(i, 2) for i in range(2)]
    for half in halves:
        half.open(None)
    assert sorted(drain(halves[0], 1000) + drain(halves[1], 1000)) == sorted(
        drain(_opened(GeneratorSource(count=5000, keys=7, seed=3)), 1000))


def _opened(source):
    source.open(None)
    return source


def test_generator_source_keeps_to_its_rate():
    now = [0.0]
    source = GeneratorSource(rate=100, seed=1)
    source.open(lambda: now[0])
    assert source.poll(1000) == []
    now[0] = 0.5
    assert len(source.poll(1000)) == 50


def test_tailed_file_delivers_whole_lines_and_resumes_from_an_offset(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("a\nb\npart")
    source = TailFileSource(path)
    source.open(None)
    assert source.poll(10) == ["a", "b"]
    offset = source.offset()
    with open(path, "a") as f:
        f.write("ial\nc\n")
    assert source.poll(10) == ["partial", "c"]
    source.seek(offset)
    assert source.poll(1) == ["partial"] and not source.finished


def test_directory_source_picks_up_new_files_and_resumes(tmp_path):
    (tmp_path / "1.txt").write_text("a\nb\n")
    source = DirectorySource(tmp_path)
    source.open(None)
    assert source.poll(10) == ["a", "b"]
    (tmp_path / "2.txt").write_text("c\nd\n")
    assert source.poll(1) == ["c"]
    offset = source.offset()
    assert source.poll(10) == ["d"] and not source.finished
    source.seek(offset)
    assert source.poll(10) == ["d"]


def test_a_bounded_directory_feeds_a_job(tmp_path):
    (tmp_path / "a.txt").write_text("1 x\n2 y\n")
    (tmp_path / "b.txt").write_text("12 x\n")
    ssc = StreamingContext()
    out = (ssc.source(DirectorySource(tmp_path, bounded=True), timestamp=lambda line: int(line.split()[0]))
              .key_by(lambda line: line.split()[1]).window(TumblingWindow(10)).count().collect())
    ssc.run()
    assert sorted(out.result()) == [("x", 0, 10, 1), ("x", 10, 20, 1), ("y", 0, 10, 1)]


def test_socket_source_reads_lines_and_replays_what_it_holds():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        connection, _ = server.accept()
        connection.sendall(b"one\ntwo\nthree\nfour")
        connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    source = SocketSource("127.0.0.1", port)
    source.open(None)
    lines = []
    for _ in range(5000):
        batch = source.poll(2)
        lines.extend(batch)
        if source.finished and len(lines) == 4:
            break
        if not batch:
            time.sleep(0.001)
    thread.join()
    assert lines == ["one", "two", "three", "four"]
    source.commit(1)
    source.seek(2)
    assert source.poll(10) == ["three", "four"]
    source.close()
    server.close()
