"""Watermarks: generation, the minimum over inputs, idle and ended inputs, unions."""

import math
import os
import random
import time

import pytest

from minibig.streaming import Source, StreamingContext, TumblingWindow
from minibig.streaming.elements import END, IDLE
from minibig.streaming.instance import OperatorInstance
from minibig.streaming.operators import ForwardOperator, OperatorContext
from minibig.streaming.source_reader import SourceReader
from minibig.streaming.sources import IterableSource
from minibig.streaming.watermarks import BoundedOutOfOrderness, WatermarkValve
from tests import streaming_reference as ref


def test_generator_trails_the_largest_timestamp_and_never_goes_back():
    gen = BoundedOutOfOrderness(5)
    assert [gen.observe(t) for t in (10, 7, 12, 12, 3)] == [5, None, 7, None, None]
    assert gen.current == 7


def test_a_source_sends_its_watermark_before_a_record_it_could_make_late_and_at_the_batch_end():
    reader = SourceReader("source-0", IterableSource([10, 11, 12, 9, 7, 20, 21]), timestamp=lambda t: t,
                          max_out_of_orderness=2)
    reader.open(lambda: 0.0)
    items, _ = reader.poll(100)
    # 10, 11, 12 are above every watermark so far; 9 is not above 10 (12 - 2): it goes after it
    assert items == [(10, 10), (11, 11), (12, 12), 10, (9, 9), (7, 7), (20, 20), (21, 21), 19, math.inf]


def test_valve_skips_nothing_when_the_minimum_channel_moves_after_idleness():
    valve = WatermarkValve(2)
    assert valve.on_watermark(0, 5) is None and valve.on_watermark(1, 3) == 3
    assert valve.on_idle(1) == 5                       # channel 0 alone: 5
    valve.on_data(1)                                   # back, below the combined: not counted yet
    assert valve.on_watermark(0, 9) == 9
    assert valve.on_watermark(1, 9) is None and valve.on_watermark(1, 12) is None
    assert valve.on_watermark(0, 11) == 11 and valve.on_watermark(0, 15) == 12


def test_valve_is_the_minimum_and_never_goes_back():
    valve = WatermarkValve(2)
    assert valve.on_watermark(0, 10) is None          # channel 1 still at -inf
    assert valve.on_watermark(1, 4) == 4
    assert valve.on_watermark(1, 20) == 10
    assert valve.on_watermark(0, 8) is None and valve.combined == 10


def test_ended_and_idle_channels_do_not_hold_the_minimum_back():
    valve = WatermarkValve(3)
    valve.on_watermark(0, 5)
    valve.on_watermark(1, 9)
    assert valve.on_end(2) == 5                       # channel 2 no longer at -inf
    assert valve.combined == 5
    assert valve.on_idle(0) == 9
    assert not valve.all_quiet
    # 0 idle, 1 and 2 ended: as Flink's, whose finished inputs count at their final watermark
    assert valve.on_end(1) == math.inf and not valve.all_quiet
    assert valve.on_end(0) is None and valve.all_ended


@pytest.mark.parametrize("last", [0, 1])
def test_when_every_channel_is_idle_the_watermark_is_the_largest_of_theirs(last):
    # Flink's StatusWatermarkValve flushes (FLINK-38454): which channel went idle first must not matter
    valve = WatermarkValve(2)
    valve.on_watermark(0, 5)
    valve.on_watermark(1, 4)
    valve.on_idle(1 - last)
    valve.on_idle(last)
    assert valve.combined == 5 and valve.all_quiet
    valve.on_data(1)                                  # back, behind the flushed 5: aligned once caught up
    assert valve.on_watermark(1, 4.5) is None and not valve.all_quiet
    assert valve.on_watermark(1, 7) == 7


def drive_valve(steps, restore_before=None):
    """``steps`` of ``(kind, channel, watermark)`` on a three-channel valve, its answers after
    each; with ``restore_before=i`` the valve is checkpointed (``state()``) and a fresh one
    loaded with it before step i, as a restored task's is."""
    valve, answers = WatermarkValve(3), []
    for i, (kind, channel, watermark) in enumerate(steps):
        if i == restore_before:
            state, valve = valve.state(), WatermarkValve(3)
            valve.load(state)
        if valve.ended[channel]:
            continue
        if kind == "watermark":
            valve.on_data(channel)
            answers.append(valve.on_watermark(channel, watermark))
        elif kind == "idle":
            answers.append(valve.on_idle(channel))
        else:
            answers.append(valve.on_end(channel))
        answers.append((valve.combined, valve.all_quiet, valve.all_ended))
    return answers


@pytest.mark.parametrize("seed", range(3))
def test_a_restored_valve_goes_on_as_the_uninterrupted_one(seed):
    # Idleness, the flushed watermark and an ended channel's +inf are all in the checkpoint:
    # restored at any step, the valve answers what it would have without the restore
    rng = random.Random(seed)
    for _ in range(200):
        steps = [(rng.choice(["watermark", "watermark", "idle", "end"]), rng.randrange(3), rng.randint(0, 30))
                 for _ in range(rng.randint(1, 20))]
        want = drive_valve(steps)
        for cut in range(len(steps)):
            assert drive_valve(steps, restore_before=cut) == want, (steps, cut)


def test_a_channel_back_from_idle_counts_only_once_it_caught_up():
    valve = WatermarkValve(2)
    valve.on_watermark(0, 3)
    valve.on_idle(0)
    valve.on_watermark(1, 50)
    assert valve.combined == 50
    valve.on_data(0)                                  # back, behind: does not stall channel 1
    assert valve.on_watermark(0, 20) is None
    assert valve.on_watermark(1, 60) == 60
    assert valve.on_watermark(0, 55) is None          # still behind 60: ignored
    assert valve.on_watermark(0, 65) is None          # caught up: counts again
    assert valve.on_watermark(1, 70) == 65


def test_instance_forwards_idle_only_when_every_channel_is_quiet_and_end_when_all_ended():
    instance = OperatorInstance(ForwardOperator("f"), [0, 0], OperatorContext("f"))
    instance.open()
    assert instance.receive(0, [(1, "x"), 1]) == {"main": [(1, "x")]}
    assert instance.receive(1, [(4, "y"), 4]) == {"main": [(4, "y"), 1]}
    outputs, forward = instance.signal(1, IDLE)
    assert forward is None
    outputs, forward = instance.signal(0, IDLE)
    assert forward is IDLE
    outputs, forward = instance.signal(0, END)      # channel 1 idle, 0 ended: +inf, as in Flink
    assert forward is None and outputs["main"] == [math.inf]
    outputs, forward = instance.signal(1, END)
    assert forward is END


def run_with_a_stalling_source(idle_timeout):
    clock = [0.0]
    ssc = StreamingContext(parallelism=2, batch_size=10, clock=lambda: clock[0])
    busy = ssc.source([(t, "a") for t in range(100)], timestamp=lambda e: e[0])
    stalling = ssc.source(ref.ScriptedSource(clock, [(1, []), (2, []), (3, []), (4, []), (5, [(5, "b")])]),
                          timestamp=lambda e: e[0], idle_timeout=idle_timeout)
    counts = busy.union(stalling).key_by(lambda e: e[1]).window(TumblingWindow(10)).count()
    out, late = counts.collect(), counts.late().collect()
    metrics = ssc.run()
    return sorted(out.result()), late.result(), metrics


def test_an_idle_source_does_not_hold_back_the_windows():
    out, late, metrics = run_with_a_stalling_source(idle_timeout=2)
    assert late == [("b", (5, "b"))] and metrics["late_records"] == 1
    assert ("a", 0, 10, 10) in out and not any(key == "b" for key, *_ in out)


def test_without_idleness_a_silent_source_holds_the_watermark_back():
    out, late, metrics = run_with_a_stalling_source(idle_timeout=None)
    assert late == [] and ("b", 0, 10, 1) in out


@pytest.mark.parametrize("first_ends,late_at", [(False, 15), (True, 45)])
def test_idle_inputs_flush_the_watermark_as_flinks_do(first_ends, late_at):
    """Flink's valve: both sources idle, the watermark is the larger of theirs (30), so [10, 20)
    has fired and the second source's record at 15 is late; the first source ended and the
    second idle, it is +inf: every window has fired, and a record at 45 is late too."""
    clock = [0.0]
    ssc = StreamingContext(parallelism=2, batch_size=100, clock=lambda: clock[0])
    quiet = [(t, []) for t in range(2, 8)]
    first = ssc.source(ref.ScriptedSource(clock, [(1, [(t, "a") for t in range(31)])] + ([] if first_ends else quiet)),
                       timestamp=lambda e: e[0], idle_timeout=2)
    second = ssc.source(ref.ScriptedSource(clock, [(1, [(t, "b") for t in range(13)])] + quiet[:3] + [(5, [(late_at, "b")])]),
                        timestamp=lambda e: e[0], idle_timeout=2)
    counts = first.union(second).key_by(lambda e: e[1]).window(TumblingWindow(10)).count()
    out, late = counts.collect(), counts.late().collect()
    metrics = ssc.run()
    assert late.result() == [("b", (late_at, "b"))] and metrics["late_records"] == 1
    assert sorted(out.result()) == [("a", 0, 10, 10), ("a", 10, 20, 10), ("a", 20, 30, 10), ("a", 30, 40, 1),
                                    ("b", 0, 10, 10), ("b", 10, 20, 3)]


class ResumingSource(Source):
    """Its records, then nothing (it goes idle) until the file ``resume`` appears (or 60 s pass,
    bounded), then ``later`` and the end."""

    def __init__(self, records, later, resume):
        self.records, self.later, self.resume, self.step, self.quiet_since = records, later, resume, 0, None

    @property
    def finished(self):
        return self.step >= 2

    def poll(self, max_records):
        if self.step == 0:
            self.step = 1
            return list(self.records)
        self.quiet_since = self.quiet_since or time.monotonic()
        if os.path.exists(self.resume) or time.monotonic() - self.quiet_since > 60:
            self.step = 2
            return list(self.later)
        return []

    def offset(self):
        return self.step

    def seek(self, offset):
        self.step = offset


def test_on_the_cluster_an_ended_input_and_an_idle_one_fire_every_window(sc, tmp_path):
    # The first source ends; the second goes idle: +inf, as in Flink, so [10, 20) fires although
    # no input's watermark reached 20. Its result resumes the idle source, whose record is late.
    resume = str(tmp_path / "fired")

    def mark(result):
        if result[:3] == ("a", 10, 20):
            open(resume, "w").close()
        return result
    ssc = StreamingContext(sc, parallelism=2, batch_size=8)
    ended = ssc.source([(t, "a") for t in range(15)], timestamp=lambda e: e[0])
    idle = ssc.source(ResumingSource([(t, "b") for t in range(5)], [(12, "b")], resume),
                      timestamp=lambda e: e[0], idle_timeout=0.2)
    counts = ended.union(idle).key_by(lambda e: e[1]).window(TumblingWindow(10)).count()
    out, late = counts.map(mark).collect(), counts.late().collect()
    started = time.monotonic()
    metrics = ssc.run(timeout=120)
    assert time.monotonic() - started < 60, "the idle source was resumed by its 60 s bound, not by [10, 20)"
    assert sorted(out.result()) == [("a", 0, 10, 10), ("a", 10, 20, 5), ("b", 0, 10, 5)]
    assert late.result() == [("b", (12, "b"))] and metrics["late_records"] == 1


def interleave(streams, batch):
    """Arrivals in the local executor's order: each source polls ``batch`` records in turn."""
    arrivals, ends_after, positions = [], {}, [0] * len(streams)
    ended = [False] * len(streams)
    while not all(ended):
        for s, events in enumerate(streams):
            if ended[s]:
                continue
            chunk = events[positions[s]:positions[s] + batch]
            positions[s] += len(chunk)
            arrivals.extend(ref.Arrival(s, ts, key, i) for ts, key, i in chunk)
            if positions[s] >= len(events):
                ended[s] = True
                ends_after.setdefault(len(arrivals) - 1, []).append(s)
    return arrivals, ends_after


@pytest.mark.parametrize("seed,on_cluster", [(41, False), (42, False), (43, False), (44, True), (45, True)])
def test_union_watermark_is_the_minimum_of_its_inputs(sc, seed, on_cluster):
    """``short`` ends first, behind in event time: from then on it counts at +inf and the
    other alone holds the watermark, so the other's own stragglers become late. On the cluster
    both sources poll in one task, in the same turns, and the keys cross the exchange to the
    window's two tasks."""
    rng = random.Random(seed)
    fast = [(i * 3 - rng.randint(0, 4), f"k{rng.randrange(9)}", i) for i in range(120)]
    slow = [(i - rng.randint(0, 9), f"k{rng.randrange(9)}", 1000 + i) for i in range(150)]
    short = [(i - rng.randint(0, 9), f"k{rng.randrange(9)}", 2000 + i) for i in range(30)]
    batch = 6
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2, batch_size=batch)
    a, b, c = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=2) for events in (fast, slow, short))
    result = (a.union(b, c).key_by(lambda e: e[1]).window(TumblingWindow(10))
              .process(lambda k, w, rs: sorted(r[2] for r in rs)))
    out, late = result.collect(), result.late().collect()
    metrics = ssc.run()

    arrivals, ends_after = interleave([fast, slow, short], batch)
    marks = ref.watermarks(arrivals, ends_after, 3, 2, 0)
    model = ref.fixed_windows(arrivals, marks, 10, 10, 0)
    held = ref.fixed_windows(arrivals, ref.watermarks(arrivals, {}, 3, 2, 0), 10, 10, 0)
    assert len(model.late) > len(held.late), "the ended source's +inf should make stragglers late"
    fired = {}
    for key, start, end, values in out.result():
        fired.setdefault((key, start, end), []).append(values)
    assert fired == ref.by_window(model.emitted, sorted)
    assert sorted((k, r[2]) for k, r in late.result()) == sorted(model.late)
    assert metrics["late_records"] == len(model.late)
