"""Keys of every kind land in one reducer, whatever PYTHONHASHSEED each worker has.

The cluster here is started by hand (`minibig worker`), with a different
PYTHONHASHSEED per worker, as on machines set up one by one: a key whose hash
is salted (an Enum member, a frozen dataclass of strings, a datetime) would go
to one reducer from one worker and to another from the other. The key types
live in a module the workers import, as a user's own module would.
"""

import collections
import operator
import os
import sys

import pytest

from minibig import Context

from support import REPO, cleanup, start_master, start_worker

KEY_TYPES = '''
import collections, dataclasses, datetime, enum

class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"

@dataclasses.dataclass(frozen=True)
class Point:
    name: str
    x: int

Pair = collections.namedtuple("Pair", "left right")

class Opaque:
    """Hashed by identity: no process-independent hash."""

def keys(i):
    return [Color(("red", "green", "blue")[i % 3]), Point(f"p{i % 7}", i % 2),
            Pair(f"l{i % 5}", "r"), datetime.datetime(2024, 1, 1 + i % 9, 12),
            datetime.date(2024, 2, 1 + i % 4), frozenset({f"s{i % 4}"}), f"k{i % 11}"]
'''


@pytest.fixture(scope="module")
def seeded_cluster(tmp_path_factory):
    """A master and two workers with different hash seeds; the key module importable by all."""
    folder = tmp_path_factory.mktemp("keytypes")
    (folder / "minibig_test_keytypes.py").write_text(KEY_TYPES)
    sys.path.insert(0, str(folder))
    master, url = start_master()
    path = os.pathsep.join([str(folder), REPO])
    procs = [master] + [start_worker(url, PYTHONHASHSEED=seed, PYTHONPATH=path)
                        for seed in ("1", "2")]
    try:
        with Context(master=url, progress=False) as ctx:
            ctx._backend.wait_for_workers(2, timeout=60)
            yield ctx
    finally:
        cleanup(procs)
        sys.path.remove(str(folder))


def test_reduce_by_key_gives_one_row_per_key_of_every_kind(seeded_cluster):
    import minibig_test_keytypes as kt
    records = range(240)
    got = (seeded_cluster.parallelize(records, 8)
           .flatMap(lambda i: [(k, 1) for k in kt.keys(i)])
           .reduceByKey(operator.add, 5).collect())
    expected = collections.Counter(k for i in records for k in kt.keys(i))
    assert len(got) == len(expected), "a key came back in more than one row"
    assert dict(got) == expected


def test_a_key_without_a_portable_hash_is_refused_naming_its_type(seeded_cluster):
    import minibig_test_keytypes as kt
    rdd = seeded_cluster.parallelize(range(4), 2).map(lambda i: (kt.Opaque(), i))
    with pytest.raises(TypeError, match="minibig_test_keytypes.Opaque"):
        rdd.reduceByKey(operator.add).collect()


def test_word_counts_of_str_keys_meet_in_one_row_each(seeded_cluster):
    """All-str keys and int counts: each map task's combine goes out as marshalled
    `Columns`, cut by reducer on the keys' CRC-32, the same under either seed."""
    words = [f"w{i % 500}\u00e9" for i in range(5000)]
    got = (seeded_cluster.parallelize(words, 6).map(lambda w: (w, 1))
           .reduceByKey(operator.add, 4).collect())
    assert len(got) == 500, "a word came back in more than one row"
    assert dict(got) == collections.Counter(words)
