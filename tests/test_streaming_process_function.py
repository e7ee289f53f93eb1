"""``KeyedStream.process``: Flink's ``KeyedProcessFunction`` with keyed state and timers.

First Java's ``KeyedProcessOperatorTest`` (``flink-streaming-java``), case by case on the
operator itself with a fake clock, comparing the whole output (records, their
timestamps and the watermarks, in order) with Flink's expected output; where Flink's
record has no timestamp (processing time) minibig's carries the record's own. Then
PyFlink's ``test_keyed_process_function_with_state`` (value, list and map state),
``test_reducing_state``, ``test_aggregating_state``, ``test_keyed_process_side_output``,
and for ``DataStream.process`` ``test_process_function`` and the side output tests, in
this process and on the 2-worker cluster, with their expected answers; then timers end to end
against a plain-Python oracle (event-time order, one firing per key and time,
deletion, a timer registered while timers fire), processing-time timers on the cluster
(the timer itself releases the paused source: no sleeps), errors, and a snapshot
round trip. The kill test (``test_streaming_recovery.py``) covers timers and state
restored after a lost worker.
"""

import itertools
import math
import os
import threading

import pytest

import faults
from minibig.streaming import (AggregateFunction, AggregatingStateDescriptor, KeyedProcessFunction,
                               ListStateDescriptor, MapStateDescriptor, OutputTag, ProcessFunction,
                               ReducingStateDescriptor, StreamError, StreamingContext, TimeDomain, ValueStateDescriptor)
from minibig.streaming.operators import OperatorContext
from minibig.streaming.process_operator import KeyedProcessOperator
from tests.streaming_reference import Row, by_key, contexts

WHERE = pytest.mark.parametrize("where", ["local", "cluster"])


# -- Java's KeyedProcessOperatorTest, on the operator ---------------------------------------

class Harness:
    """Flink's KeyedOneInputStreamOperatorTestHarness, in small: an operator keyed by the
    record itself (IdentityKeySelector), a settable processing-time clock, every output kept."""

    def __init__(self, function, snapshot=None):
        self.now = 0
        self.operator = KeyedProcessOperator("keyed_process-1", function)
        self.operator.open(OperatorContext("keyed_process-1", clock=lambda: self.now))
        if snapshot is not None:
            self.operator.restore(snapshot)
        self.output = []

    def element(self, value, timestamp=0):
        self.output += self.operator.process_batch([(timestamp, (value, value))])["main"]

    def watermark(self, watermark):
        self.output += self.operator.process_batch([watermark])["main"]

    def processing_time(self, now):
        self.now = now
        self.output += self.operator.on_processing_time(now).get("main", [])


class Querying(KeyedProcessFunction):
    def __init__(self, domain):
        self.domain = domain

    def process_element(self, value, ctx):
        service = ctx.timer_service()
        now = service.current_watermark() if self.domain is TimeDomain.EVENT_TIME else service.current_processing_time()
        yield f"{value}TIME:{now} TS:{ctx.timestamp()}"


class Triggering(KeyedProcessFunction):
    def __init__(self, domain):
        self.domain = domain

    def process_element(self, value, ctx):
        service = ctx.timer_service()
        if self.domain is TimeDomain.EVENT_TIME:
            service.register_event_time_timer(service.current_watermark() + 5)
        else:
            service.register_processing_time_timer(service.current_processing_time() + 5)
        return [value]

    def on_timer(self, timestamp, ctx):
        assert ctx.time_domain() is self.domain
        return [1777]


class TriggeringStateful(Triggering):
    def open(self, runtime_context):
        self.seen = runtime_context.get_state(ValueStateDescriptor("seen-element"))

    def process_element(self, value, ctx):
        self.seen.update(value)
        super().process_element(value, ctx)
        return [f"INPUT:{value}"]

    def on_timer(self, timestamp, ctx):
        assert ctx.time_domain() is self.domain
        return [f"STATE:{self.seen.value()}"]


class BothTriggering(KeyedProcessFunction):
    def process_element(self, value, ctx):
        ctx.timer_service().register_processing_time_timer(5)
        ctx.timer_service().register_event_time_timer(6)

    def on_timer(self, timestamp, ctx):
        yield "EVENT:1777" if ctx.time_domain() is TimeDomain.EVENT_TIME else "PROC:1777"


@pytest.mark.parametrize("domain, steps, want", [
    # testTimestampAndWatermarkQuerying
    (TimeDomain.EVENT_TIME, [("watermark", 17), ("element", 5, 12), ("watermark", 42), ("element", 6, 13)],
     [17, (12, "5TIME:17 TS:12"), 42, (13, "6TIME:42 TS:13")]),
    # testTimestampAndProcessingTimeQuerying (Flink's records have no timestamp there)
    (TimeDomain.PROCESSING_TIME, [("processing_time", 17), ("element", 5, 1), ("processing_time", 42),
                                  ("element", 6, 2)],
     [(1, "5TIME:17 TS:1"), (2, "6TIME:42 TS:2")]),
])
def test_timestamp_watermark_and_processing_time_querying(domain, steps, want):
    h = Harness(Querying(domain))
    for step, *args in steps:
        getattr(h, step)(*args)
    assert h.output == want


def test_event_time_timers():
    h = Harness(Triggering(TimeDomain.EVENT_TIME))
    h.watermark(0)
    h.element(17, 42)
    h.watermark(5)
    assert h.output == [0, (42, 17), (5, 1777), 5]


def test_processing_time_timers():
    h = Harness(Triggering(TimeDomain.PROCESSING_TIME))
    h.element(17, 3)
    h.processing_time(5)
    assert h.output == [(3, 17), (5, 1777)]


def test_event_time_timer_with_state_does_not_leak_between_keys():
    h = Harness(TriggeringStateful(TimeDomain.EVENT_TIME))
    h.watermark(1)
    h.element(17, 0)                                  # a timer at 6
    h.watermark(2)
    h.element(42, 1)                                  # a timer at 7
    h.watermark(6)
    h.watermark(7)
    assert h.output == [1, (0, "INPUT:17"), 2, (1, "INPUT:42"), (6, "STATE:17"), 6, (7, "STATE:42"), 7]


def test_processing_time_timer_with_state_does_not_leak_between_keys():
    h = Harness(TriggeringStateful(TimeDomain.PROCESSING_TIME))
    h.processing_time(1)
    h.element(17, 0)
    h.processing_time(2)
    h.element(42, 0)
    h.processing_time(6)
    h.processing_time(7)
    assert h.output == [(0, "INPUT:17"), (0, "INPUT:42"), (6, "STATE:17"), (7, "STATE:42")]


def test_snapshot_and_restore():
    """Both timers, taken in a snapshot, fire in a fresh operator restored from it."""
    first = Harness(BothTriggering())
    first.element(5, 12)
    snapshot = first.operator.snapshot()
    first.operator.close()
    h = Harness(BothTriggering(), snapshot)
    h.processing_time(5)
    h.watermark(6)
    assert h.output == [(5, "PROC:1777"), (6, "EVENT:1777"), 6]


# -- PyFlink's test_keyed_process_function_with_state ----------------------------------------

class EveryState(KeyedProcessFunction):
    def open(self, runtime_context):
        self.value_state = runtime_context.get_state(ValueStateDescriptor("value_state"))
        self.list_state = runtime_context.get_list_state(ListStateDescriptor("list_state"))
        self.map_state = runtime_context.get_map_state(MapStateDescriptor("map_state"))

    def process_element(self, value, ctx):
        current_value = self.value_state.value()
        self.value_state.update(value[0])
        current_list = list(self.list_state.get())
        self.list_state.add(value[0])
        entries = dict(self.map_state.items())
        text = "{" + ", ".join(f"{k}: {entries[k]}" for k in sorted(entries)) + "}"
        self.map_state.put(value[0], value[1])
        yield (f"current key: {ctx.get_current_key()}, current value state: {current_value}, current list "
               f"state: {current_list}, current map state: {text}, current value: {value}")


@WHERE
def test_keyed_process_function_with_state_as_pyflinks_test(sc, where):
    rows = [Row(1, "hi", "1603708211000"), Row(2, "hello", "1603708224000"), Row(3, "hi", "1603708226000"),
            Row(4, "hello", "1603708289000"), Row(5, "hi", "1603708291000"), Row(6, "hello", "1603708293000")]
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=2)
    out = ssc.source(rows, timestamp=lambda r: int(r[2])).key_by(lambda r: r[1]).process(EveryState()).collect()
    ssc.run(timeout=60)
    assert sorted(out.result()) == sorted([
        "current key: hi, current value state: None, current list state: [], current map state: {}, current value: "
        "Row(f0=1, f1='hi', f2='1603708211000')",
        "current key: hello, current value state: None, current list state: [], current map state: {}, current "
        "value: Row(f0=2, f1='hello', f2='1603708224000')",
        "current key: hi, current value state: 1, current list state: [1], current map state: {1: hi}, current "
        "value: Row(f0=3, f1='hi', f2='1603708226000')",
        "current key: hello, current value state: 2, current list state: [2], current map state: {2: hello}, "
        "current value: Row(f0=4, f1='hello', f2='1603708289000')",
        "current key: hi, current value state: 3, current list state: [1, 3], current map state: {1: hi, 3: hi}, "
        "current value: Row(f0=5, f1='hi', f2='1603708291000')",
        "current key: hello, current value state: 4, current list state: [2, 4], current map state: {2: hello, "
        "4: hello}, current value: Row(f0=6, f1='hello', f2='1603708293000')"])


class Summing(AggregateFunction):
    def create_accumulator(self):
        return 0

    def add(self, value, accumulator):
        return value + accumulator

    def get_result(self, accumulator):
        return accumulator

    def merge(self, a, b):
        return a + b


class FoldingState(KeyedProcessFunction):
    """test_reducing_state's and test_aggregating_state's function: fold the first field."""

    def __init__(self, kind):
        self.kind = kind

    def open(self, runtime_context):
        if self.kind == "reducing":
            self.state = runtime_context.get_reducing_state(ReducingStateDescriptor("s", lambda a, b: a + b))
        else:
            self.state = runtime_context.get_aggregating_state(AggregatingStateDescriptor("s", Summing()))

    def process_element(self, value, ctx):
        self.state.add(value[0])
        yield self.state.get(), value[1]


@WHERE
@pytest.mark.parametrize("kind", ["reducing", "aggregating"])
def test_reducing_and_aggregating_state_as_pyflinks_tests(sc, where, kind):
    rows = [(1, "hi"), (2, "hello"), (3, "hi"), (4, "hello"), (5, "hi"), (6, "hello")]
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=2)
    out = ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: r[1]).process(FoldingState(kind)).collect()
    ssc.run(timeout=60)
    assert sorted(out.result()) == sorted([(1, "hi"), (2, "hello"), (4, "hi"), (6, "hello"), (9, "hi"), (12, "hello")])


SIDE = OutputTag("side")


class RunningSumAside(KeyedProcessFunction):
    """test_keyed_process_side_output's function: the value out, the key's running sum aside."""

    def open(self, runtime_context):
        self.total = runtime_context.get_reducing_state(ReducingStateDescriptor("reduce", lambda a, b: a + b))

    def process_element(self, value, ctx):
        yield value[1]
        self.total.add(value[1])
        yield SIDE, self.total.get()
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 100)

    def on_timer(self, timestamp, ctx):
        yield OutputTag("side"), ("timer", ctx.get_current_key(), timestamp)
        yield OutputTag("nobody reads this"), timestamp


@WHERE
def test_keyed_process_side_output_as_pyflinks_test(sc, where):
    """Main ['1', '2', '3', '4'] and side ['1', '2', '4', '6'] as in PyFlink; here the timers
    also write to the side output, and a tag nobody reads is dropped."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    rows = [("a", 1), ("b", 2), ("a", 3), ("b", 4)]
    processed = ssc.source(rows, timestamp=lambda r: r[1]).key_by(lambda r: r[0]).process(RunningSumAside())
    main, side = processed.collect(), processed.get_side_output(SIDE).collect()
    ssc.run(timeout=60)
    assert sorted(main.result()) == [1, 2, 3, 4]
    assert sorted(side.result(), key=repr) == sorted(
        [1, 2, 4, 6, ("timer", "a", 101), ("timer", "a", 103), ("timer", "b", 102), ("timer", "b", 104)], key=repr)


def test_a_side_output_gets_the_watermarks_too():
    operator = KeyedProcessOperator("keyed_process-1", RunningSumAside(), [SIDE.output])
    operator.open(OperatorContext("keyed_process-1"))
    assert operator.process_batch([(5, ("a", ("a", 5))), 5, 200]) == {
        "main": [(5, 5), 5, 200], SIDE.output: [(5, 5), 5, (105, ("timer", "a", 105)), 200]}


# -- PyFlink's ProcessFunction tests: no key -------------------------------------------------

TAG1, TAG2 = OutputTag("side1"), OutputTag("side2")


class Stamped(ProcessFunction):
    """test_process_function's function."""

    def process_element(self, value, ctx):
        yield f"current timestamp: {ctx.timestamp()}, current_value: {value}"


class TwoSides(ProcessFunction):
    """test_process_multiple_side_output's function (its first side is test_process_side_output's)."""

    def process_element(self, value, ctx):
        yield value[0]
        yield TAG1, value[1]
        yield TAG2, value[0] + str(value[1])


@WHERE
def test_process_function_as_pyflinks_test(sc, where):
    rows = [Row(1, "1603708211000"), Row(2, "1603708224000"), Row(3, "1603708226000"), Row(4, "1603708289000")]
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    out = ssc.source(rows, timestamp=lambda r: int(r[1])).process(Stamped()).collect()
    ssc.run(timeout=60)
    assert sorted(out.result()) == [
        "current timestamp: 1603708211000, current_value: Row(f0=1, f1='1603708211000')",
        "current timestamp: 1603708224000, current_value: Row(f0=2, f1='1603708224000')",
        "current timestamp: 1603708226000, current_value: Row(f0=3, f1='1603708226000')",
        "current timestamp: 1603708289000, current_value: Row(f0=4, f1='1603708289000')"]


@WHERE
@pytest.mark.parametrize("chained, side1", [(False, [0, 1, 2]), (True, [1, 2, 3])])
def test_process_side_outputs_as_pyflinks_tests(sc, where, chained, side1):
    """test_process_side_output, test_process_multiple_side_output and (chained after a map)
    test_side_output_chained_with_upstream_operator."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    stream = ssc.source([("a", 0), ("b", 1), ("c", 2)], timestamp=lambda r: r[1], parallelism=2)
    if chained:
        stream = stream.map(lambda e: (e[0], e[1] + 1))
    processed = stream.process(TwoSides())
    main, one, two = (processed.collect(), processed.get_side_output(TAG1).collect(),
                      processed.get_side_output(TAG2).collect())
    ssc.run(timeout=60)
    assert sorted(main.result()) == ["a", "b", "c"]
    assert sorted(one.result()) == side1
    assert sorted(two.result()) == [f"{c}{n}" for c, n in zip("abc", side1)]


class KeyedOnlyThings(ProcessFunction):
    def __init__(self, asks):
        self.asks = asks

    def open(self, runtime_context):
        if self.asks == "state":
            runtime_context.get_state(ValueStateDescriptor("x"))

    def process_element(self, value, ctx):
        ctx.timer_service().register_event_time_timer(5)


@pytest.mark.parametrize("asks", ["state", "timer"])
def test_keyed_state_and_timers_off_a_keyed_stream_are_refused(asks):
    ssc = StreamingContext(parallelism=2)
    ssc.source([1], timestamp=int).process(KeyedOnlyThings(asks)).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert caught.value.operator.startswith("process-")
    assert type(caught.value.__cause__) is TypeError


# -- timers end to end -----------------------------------------------------------------------

class Reminders(KeyedProcessFunction):
    """Per record (key, t, action), counted: "set" a timer at t + 10, twice (it fires once);
    "cancel" the timer of the key's last "set" (fired already, or not yet); "chain" a timer
    at t + 20.5 which, firing, sets one at its time - 5.5, already due: it fires in the same
    pass. Each firing emits (key, time, ctx.timestamp(), the key's count then)."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.last_set = runtime_context.get_state(ValueStateDescriptor("last_set"))

    def process_element(self, value, ctx):
        key, t, action = value
        self.count.update((self.count.value() or 0) + 1)
        service = ctx.timer_service()
        if action == "set":
            service.register_event_time_timer(t + 10)
            service.register_event_time_timer(t + 10)
            self.last_set.update(t)
        elif action == "cancel" and self.last_set.value() is not None:
            service.delete_event_time_timer(self.last_set.value() + 10)
        elif action == "chain":
            service.register_event_time_timer(t + 20.5)

    def on_timer(self, timestamp, ctx):
        if timestamp % 1 == 0.5:
            ctx.timer_service().register_event_time_timer(timestamp - 5.5)
        yield ctx.get_current_key(), timestamp, ctx.timestamp(), self.count.value()


def reminders_oracle(records):
    """Flink's timer rules replayed naively: a watermark after every record (the largest time
    so far), then +inf; at each, every live timer at or before it, least time first, those
    registered meanwhile included; one timer per (key, time)."""
    live, counts, last_set, out = {}, {}, {}, []
    order = itertools.count()

    def fire_until(watermark):
        while True:
            due = [(t, seq, key) for (t, key), seq in live.items() if t <= watermark]
            if not due:
                return
            t, _, key = min(due)
            del live[(t, key)]
            if t % 1 == 0.5:
                live.setdefault((t - 5.5, key), next(order))
            out.append((key, t, t, counts[key]))

    watermark = -math.inf
    for key, t, action in records:
        counts[key] = counts.get(key, 0) + 1
        if action == "set":
            live.setdefault((t + 10, key), next(order))
            last_set[key] = t
        elif action == "cancel" and key in last_set:
            live.pop((last_set[key] + 10, key), None)
        elif action == "chain":
            live.setdefault((t + 20.5, key), next(order))
        watermark = max(watermark, t)
        fire_until(watermark)
    fire_until(math.inf)
    return out


def reminder_records():
    actions = ["set", "chain", "set", "cancel", "none", "set"]
    return [(f"k{i % 5}", i * 2 + i % 3, actions[(i // 5) % len(actions)]) for i in range(150)]


@WHERE
def test_timers_fire_in_time_order_once_per_key_and_time_as_the_oracle(sc, where):
    records = reminder_records()
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    out = ssc.source(records, timestamp=lambda r: r[1]).key_by(lambda r: r[0]).process(Reminders()).collect()
    metrics = ssc.run(timeout=60)
    want = reminders_oracle(records)
    assert by_key((r[0], r[1:]) for r in out.result()) == by_key((r[0], r[1:]) for r in want)
    assert metrics["timers_fired"] == len(want)
    assert any(t % 1 == 0.5 for _, t, _, _ in want) and any(t % 1 == 0 for _, t, _, _ in want)


class Heartbeat(KeyedProcessFunction):
    """Every 10 after a key's record, for ever: each firing registers the next one."""

    def open(self, runtime_context):
        self.fired = runtime_context.get_state(ValueStateDescriptor("fired"))

    def process_element(self, value, ctx):
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)

    def on_timer(self, timestamp, ctx):
        fired = (self.fired.value() or 0) + 1
        if fired > 50:                      # what the old code did, hanging, growing
            raise RuntimeError("the end of the input fires timers for ever")
        self.fired.update(fired)
        ctx.timer_service().register_event_time_timer(timestamp + 10)
        yield ctx.get_current_key(), timestamp


@WHERE
def test_a_timer_registering_the_next_one_stops_at_the_end_of_the_input(sc, where):
    """The last watermark fires the timers there are and those registered meanwhile up to the
    latest of them (a at 31 and 40, b at 35 were there: from the watermark 30's firings and
    the last record), not the next ones for ever."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    records = [("a", 1), ("b", 5), ("a", 30)]
    out = ssc.source(records, timestamp=lambda r: r[1]).key_by(lambda r: r[0]).process(Heartbeat()).collect()
    ssc.run(timeout=60)
    assert by_key(out.result()) == {"a": [11, 21, 31, 40], "b": [15, 25, 35]}


class ReleasingOnTimer(KeyedProcessFunction):
    """A processing-time timer due now; firing, it releases the paused source."""

    def __init__(self, folder):
        self.folder = folder

    def process_element(self, value, ctx):
        service = ctx.timer_service()
        service.register_processing_time_timer(service.current_processing_time())
        return [("in", value)]

    def on_timer(self, timestamp, ctx):
        assert ctx.time_domain() is TimeDomain.PROCESSING_TIME
        faults.touch(os.path.join(self.folder, "release"))
        yield "fired", ctx.get_current_key()


@WHERE
def test_processing_time_timers_fire_while_the_job_runs(sc, where, tmp_path):
    """The source pauses after its first record until a timer has fired: the job ends only if
    timers fire by the clock while it runs."""
    folder = str(tmp_path)
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    source = faults.PausingSource([1, 2, 3], folder, 1)
    out = ssc.source(source, timestamp=int).key_by(lambda x: x % 2).process(ReleasingOnTimer(folder)).collect()
    ssc.run(timeout=60)
    got = out.result()
    assert sorted(v for v in got if v[0] == "in") == [("in", 1), ("in", 2), ("in", 3)]
    fired = [v for v in got if v[0] == "fired"]
    # record 1's timer fired (nothing else releases the source); records 2 and 3 set theirs
    # at other times, which fire if a clock tick comes before the input ends (Flink drops
    # processing-time timers still pending then)
    assert ("fired", 1) in fired and len(fired) <= 3


class Failing(KeyedProcessFunction):
    def __init__(self, where):
        self.where = where

    def open(self, runtime_context):
        if self.where == "open":
            raise OSError("no connection")

    def process_element(self, value, ctx):
        if self.where == "element":
            return {}[value]
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 1)

    def on_timer(self, timestamp, ctx):
        raise ValueError(timestamp)


@WHERE
@pytest.mark.parametrize("fails, record, cause", [("element", (2, ("k", 2)), KeyError),
                                                  ("timer", ("k", 3), ValueError), ("open", None, OSError)])
def test_a_failing_function_names_the_operator_and_the_record_or_timer(sc, where, fails, record, cause):
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    ssc.source([2, 5], timestamp=int).key_by(lambda x: "k").process(Failing(fails)).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("keyed_process-")
    assert caught.value.record == record
    assert type(caught.value.__cause__) is cause


class FailingClose(KeyedProcessFunction):
    def __init__(self, element_fails):
        self.element_fails = element_fails

    def process_element(self, value, ctx):
        if self.element_fails:
            raise KeyError(value)
        yield value

    def close(self):
        raise OSError("closing")


@WHERE
def test_a_records_failure_is_the_one_reported_when_close_fails_too(sc, where):
    """As Flink disposes a failed task: the close failure is a note on the first, never
    instead of it. One instance: a second, failing only as it closes, would race."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=1)
    ssc.source([7], timestamp=int).key_by(lambda x: x).process(FailingClose(True)).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("keyed_process-")
    assert (type(caught.value.__cause__), caught.value.record) == (KeyError, (7, (7, 7)))


def test_a_failing_close_fails_the_job_naming_the_operator():
    """As a failing open() does. (On the cluster too, after the task's retries: it closes
    after reporting that it is done, outside the task's own error report.)"""
    ssc = StreamingContext(parallelism=2)
    ssc.source([7], timestamp=int).key_by(lambda x: x).process(FailingClose(False)).collect()
    with pytest.raises(StreamError, match=r"close\(\) failed: OSError: closing") as caught:
        ssc.run()
    assert caught.value.operator.startswith("keyed_process-")
    assert type(caught.value.__cause__) is OSError


class TaggingThree(ProcessFunction):
    def process_element(self, value, ctx):
        yield OutputTag("odd"), value, "extra"


def test_a_tagged_tuple_of_three_fails_naming_the_record_not_passed_on_holding_the_tag():
    ssc = StreamingContext(parallelism=1)
    processed = ssc.source([3], timestamp=int).process(TaggingThree())
    processed.collect(), processed.get_side_output(OutputTag("odd")).collect()
    with pytest.raises(StreamError, match=r"yielded as \(tag, value\), got 3 items") as caught:
        ssc.run()
    assert caught.value.record == (3, 3) and type(caught.value.__cause__) is TypeError


class Registering(KeyedProcessFunction):
    def __init__(self, timestamp):
        self.timestamp = timestamp

    def process_element(self, value, ctx):
        ctx.timer_service().register_event_time_timer(self.timestamp)


@pytest.mark.parametrize("timestamp", [math.nan, math.inf, "5", None])
def test_a_timer_at_no_finite_time_is_refused(timestamp):
    ssc = StreamingContext(parallelism=2)
    ssc.source([1], timestamp=int).key_by(lambda x: x).process(Registering(timestamp)).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert type(caught.value.__cause__) is ValueError


def test_the_wrong_function_or_descriptor_is_refused():
    keyed = StreamingContext(parallelism=2).source([1], timestamp=int).key_by(lambda x: x)
    with pytest.raises(TypeError):
        keyed.process(lambda value, ctx: [value])
    with pytest.raises(TypeError):
        KeyedProcessOperator("p", EveryState()).state_handle(ListStateDescriptor("x"), "value")


class Locking(ProcessFunction):
    def __init__(self):
        self.lock = threading.Lock()

    def process_element(self, value, ctx):
        yield value


def test_a_function_that_cannot_be_pickled_is_refused_when_the_job_is_written():
    """Each instance runs a pickled copy: a function holding a lock is refused by process(),
    naming it, not by a bare pickling error once the job runs (locally too)."""
    stream = StreamingContext(parallelism=2).source([1], timestamp=int)
    for process in (stream.process, stream.key_by(lambda x: x).process):
        with pytest.raises(TypeError, match="pickled.*Locking.*_thread.lock"):
            process(Locking())


class InitialisingInOpen(KeyedProcessFunction):
    def open(self, runtime_context):
        self.seen = runtime_context.get_state(ValueStateDescriptor("seen"))
        self.seen.update(0)             # no key yet: Flink's "No key set"

    def process_element(self, value, ctx):
        yield ctx.get_current_key(), self.seen.value()


def test_keyed_state_used_in_open_is_refused_not_kept_as_the_key_nones():
    """None is a key like any other: state written in open() must not become its value."""
    ssc = StreamingContext(parallelism=1)
    ssc.source([None, "a"], timestamp=lambda x: 0).key_by(lambda x: x).process(InitialisingInOpen()).collect()
    with pytest.raises(StreamError, match=r"open\(\) failed: TypeError: keyed state used outside a keyed context"):
        ssc.run()


class Counting(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.history = runtime_context.get_list_state(ListStateDescriptor("history"))

    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)
        self.history.add(value)
        yield self.history.get()


def test_each_instance_has_its_own_copy_of_the_function_and_outputs_do_not_alias_state():
    """Two local instances of one function object: state handles of one never serve the other;
    a downstream map appending to the emitted list cannot change the list state."""
    ssc = StreamingContext(parallelism=2)
    out = (ssc.source(range(8), timestamp=int).key_by(lambda x: x % 4).process(Counting())
              .map(lambda history: history.append("!") or history).collect())
    ssc.run()
    assert sorted(out.result(), key=repr) == sorted([[k, "!"] for k in range(4)] + [[k, k + 4, "!"] for k in range(4)],
                                                    key=repr)


class AsksPerRecord(KeyedProcessFunction):
    """Keeps the runtime context and asks for its state on every record, as some users do."""

    def open(self, runtime_context):
        self.runtime_context = runtime_context

    def process_element(self, value, ctx):
        state = self.runtime_context.get_state(ValueStateDescriptor("n"))
        state.update((state.value() or 0) + 1)
        yield state.value()


def test_state_asked_for_on_every_record_is_one_handle():
    operator = KeyedProcessOperator("keyed_process-1", AsksPerRecord())
    operator.open(OperatorContext("keyed_process-1"))
    out = operator.process_batch([(t, (t % 2, t)) for t in range(1000)])["main"]
    assert [value for _, value in out][-4:] == [499, 499, 500, 500]
    assert len(operator.handles) == 1
