"""A result's frames are encoded a piece at a time (core/task.py: PIECE_RECORDS, stream_result).

Each piece of a frame is checked and marshalled as it is pulled from the task; a
piece that marshal could not give back exactly makes its whole frame a pickle. The
oracle is the list itself: every frame decoded, then what rode with the report,
must give back the records in order with their types, whatever piece the odd
record falls in; a small result sends no frame, a big one's tail goes as its last
frame. End to end, the same through a cluster.
"""

import decimal
import types

import pytest

from minibig.core.task import (FIRST_FRAME_RECORDS, MARSHAL, PICKLE, PIECE_RECORDS, Records,
                               decode_frame, stream_result)


def typed(records) -> list:
    return [(type(r), repr(r)) for r in records]


def streamed(records) -> tuple[list, list]:
    """(codec and records of each frame sent, what rides with the report) of a `Records` value."""
    sent = []
    ctx = types.SimpleNamespace(partition=0, send_frame=lambda seq, codec, data: sent.append(
        (seq, codec, data)))
    rest, frames, _ = stream_result(Records(iter(records)), ctx, 1 << 40)
    assert [seq for seq, _, _ in sent] == list(range(frames))
    return [(codec, decode_frame(codec, data)) for _, codec, data in sent], rest


def flat(n: int) -> list:
    return [(f"k{i}", i, i * 0.5, None) if i % 3 else (f"s{i}", True, b"x") for i in range(n)]


SIZE = 120 * PIECE_RECORDS + 17                 # a first frame, then frames of ~40k records


@pytest.mark.parametrize("odd_at", [None, 0, FIRST_FRAME_RECORDS + 3 * PIECE_RECORDS + 5, SIZE - 9])
def test_frames_give_back_the_records_in_order_with_their_types(odd_at):
    """A record marshal would change (a Decimal in a tuple) in the first frame, in a
    later piece of the second, in the last, or nowhere: the frame holding it is a
    pickle, the others marshal, and together with the report they are the records."""
    records = flat(SIZE)
    if odd_at is not None:
        records[odd_at] = ("odd", decimal.Decimal("1.5"))
    frames, rest = streamed(records)
    assert len(frames) > 2
    got = [r for _, part in frames for r in part] + rest
    assert typed(got) == typed(records)
    codecs = [codec for codec, part in frames]
    if odd_at is None:
        assert set(codecs) == {MARSHAL}
    else:
        holder = next(i for i, (_, part) in enumerate(frames) if ("odd", decimal.Decimal("1.5")) in part)
        assert codecs[holder] == PICKLE and set(codecs[:holder] + codecs[holder + 1:]) == {MARSHAL}


def test_a_small_result_rides_with_the_report_and_a_big_tail_goes_as_a_frame():
    """Fewer than FIRST_FRAME_RECORDS records: no frame at all. A big result whose last
    frame would be short of its size but holds more than FIRST_FRAME_RECORDS: sent as a
    frame, nothing left for the report (its pickle would cost 4x marshal's)."""
    frames, rest = streamed(flat(FIRST_FRAME_RECORDS - 1))
    assert frames == [] and typed(rest) == typed(flat(FIRST_FRAME_RECORDS - 1))
    records = flat(FIRST_FRAME_RECORDS + 5 * PIECE_RECORDS + 7)
    frames, rest = streamed(records)
    assert [len(part) for _, part in frames][0] == FIRST_FRAME_RECORDS and rest == []
    assert typed([r for _, part in frames for r in part]) == typed(records)


def test_what_a_piece_shares_stays_shared():
    """marshal keeps an object met twice in a piece as one object (a long string repeated
    in every record is written once per piece, not once per record)."""
    shared = "x" * 10_000
    frames, rest = streamed([(shared, i) for i in range(3 * PIECE_RECORDS)])
    [(codec, first)] = frames[:1]
    assert codec == MARSHAL and first[0][0] is first[-1][0]


def test_collect_through_a_cluster_keeps_types_across_pieces(sc):
    """Several frames per task, an odd record in the middle of one: the answer is the
    plain Python one, in partition order, with its types."""
    n = 12 * PIECE_RECORDS

    def part(split):
        for i in range(split * n, (split + 1) * n):
            yield ("odd", decimal.Decimal(i)) if i % (5 * PIECE_RECORDS) == 77 else (f"w{i}", i)
    got = sc.parallelize(range(2), 2).flatMap(part).collect()
    assert typed(got) == typed(r for split in range(2) for r in part(split))
