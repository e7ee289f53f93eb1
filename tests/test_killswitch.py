"""Stopping a task attempt (cluster/killswitch.py): the kill lands while the attempt
runs, and never inside an import. An attempt killed while it imports a module
must not break the module for the worker's next tasks.

Found in CI: a speculative copy killed inside `import numba` left the
worker with half of numba in `sys.modules`, and every later numba compile
in that worker failed with "module 'numba' has no attribute 'core'".
"""

import builtins
import os
import sys
import threading
import uuid

import faults
from minibig import Context
from minibig.cluster import killswitch
from minibig.cluster.killswitch import KillSwitch
from minibig.errors import TaskKilledError


def start_attempt(switch, body):
    """Run `body` as an armed attempt on a thread; the thread and its outcome list."""
    outcome = []

    def attempt():
        assert switch.arm()
        try:
            body()
            outcome.append("ran on after the import")
        except TaskKilledError:
            outcome.append("killed")
        finally:
            switch.disarm()
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    return thread, outcome


def test_a_kill_waits_for_the_import_and_lands_right_after_it(tmp_path, monkeypatch):
    monkeypatch.setattr(builtins, "__import__", killswitch._guarded_import)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"slow_body_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "import gate_events\n"
        "gate_events.started.set()\n"
        "assert gate_events.go.wait(60)\n"
        "import json                     # a nested import: still guarded\n"
        "DONE = True\n")
    (tmp_path / "gate_events.py").write_text(
        "import threading\nstarted, go = threading.Event(), threading.Event()\n")
    import gate_events
    switch = KillSwitch()
    thread, outcome = start_attempt(switch, lambda: __import__(name))
    assert gate_events.started.wait(60)
    switch.kill()                                # lands inside the module's body without the guard
    gate_events.go.set()
    thread.join(60)
    assert not thread.is_alive()
    assert outcome == ["killed"]
    assert sys.modules[name].DONE, "the module was imported whole"
    assert not killswitch.current_attempt_killed()


def test_a_kill_that_came_first_stops_the_attempt_before_it_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(builtins, "__import__", killswitch._guarded_import)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"never_run_{uuid.uuid4().hex}"
    ran = tmp_path / "ran"
    (tmp_path / f"{name}.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    switch = KillSwitch()

    def killed_then_imports():
        with switch.lock:                        # the kill was asked, its exception not raised yet
            switch.killed = True
        import json                              # noqa: F401  loaded already: nothing to guard
        __import__(name)
    thread, outcome = start_attempt(switch, killed_then_imports)
    thread.join(60)
    assert outcome == ["killed"]
    assert not ran.exists() and name not in sys.modules, "the module's body never started"


def test_a_kill_python_dropped_is_raised_again_while_the_attempt_runs():
    """An asynchronous kill landing in a GC callback is printed and dropped; the next try stops it."""
    switch, running = KillSwitch(), threading.Event()

    def spins_forever():
        running.set()
        while True:                              # a user function that never ends by itself
            pass
    thread, outcome = start_attempt(switch, spins_forever)
    assert running.wait(30)
    with switch.lock:                            # the kill, then Python dropping it
        switch.killed = True
    switch.kill_again()
    thread.join(30)
    assert not thread.is_alive() and outcome == ["killed"]


SLOW_MODULE = '''
import os, time
from minibig.cluster.killswitch import current_attempt_killed
folder = {folder!r}


def mark(tag):
    path = os.path.join(folder, f"{{tag}}-{{os.getpid()}}-{{time.monotonic_ns()}}")
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)


def wait(condition, what):
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


with open(os.path.join(folder, "bodies"), "a") as f:
    f.write(f"{{os.getpid()}}\\n")
try:
    os.close(os.open(os.path.join(folder, "first"), os.O_CREAT | os.O_EXCL))
    original = True
except FileExistsError:
    original = False
if original:                        # wait for the speculative copy to start importing too
    mark("original")
    wait(lambda: os.path.exists(os.path.join(folder, "go")), "the go-ahead")
elif not any(n.startswith("copy-") for n in os.listdir(folder)):
    mark("copy")
    wait(current_attempt_killed, "the kill of the copy")
DONE = True
'''


def test_a_speculative_copy_killed_inside_an_import_leaves_the_module_whole(tmp_path):
    """The copy of a slow task is killed (its original won) while it runs a module's body:
    the body finishes, and no worker ever runs a module's body twice."""
    folder = str(tmp_path)
    name = f"spec_body_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(SLOW_MODULE.format(folder=folder))

    def load(x):
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module = __import__(name) if x == 0 else None
        return x, os.getpid(), module is None or module.DONE

    with Context(workers=3, worker_timeout=600.0, appName="kill-in-import") as ctx:
        join = faults.run_in_thread(lambda: ctx.parallelize(range(24), 24).map(load).collect())
        faults.wait_for_marker(folder, "original")
        copy_pid = faults.wait_for_marker(folder, "copy")[0]  # speculation started a copy of task 0
        faults.touch(os.path.join(folder, "go"))              # the original wins; the copy is killed
        assert sorted(x for x, _, _ in join()) == list(range(24))

        def load_everywhere(_):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return os.getpid(), __import__(name).DONE
        seen = faults.wait_until(
            lambda: {pid for pid, done in ctx.parallelize(range(12), 12).map(load_everywhere).collect()
                     if done} >= {copy_pid} or None,
            "a task on the copy's worker", timeout=120)
        assert seen
    bodies = open(os.path.join(folder, "bodies")).read().split()
    assert len(bodies) == len(set(bodies)), f"a module body ran twice in one worker: {bodies}"


def test_a_killed_copy_that_left_the_gc_threshold_counted_gives_it_back(tmp_path):
    """A kill can land inside `gcpolicy`'s bookkeeping, after a holder is counted and
    before the `try` that would count it down (in a tight loop, 25 of 300 kills did): the
    count then never comes back to 0, and the worker kept the raised young threshold for
    life. The copy here leaves exactly that count (`_raise` with no `_lower`) and is
    killed; once its worker has no attempt left, its tasks see the RDD threshold again."""
    folder = str(tmp_path)
    go = os.path.join(folder, "go")
    leaked = 10 ** 6                                 # above RDD_YOUNG_THRESHOLD: visible

    def hold(x):
        from minibig.cluster.killswitch import current_attempt_killed
        from minibig.core import gcpolicy
        if x == 0:
            try:
                os.close(os.open(os.path.join(folder, "first"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:                  # the speculative copy
                gcpolicy._raise(leaked)              # counted; the kill comes before any _lower
                faults.announce_and_wait(folder, "copy")
                faults.wait_until(current_attempt_killed, "the kill of the copy", timeout=120)
                while True:                          # the kill lands here
                    pass
            faults.announce_and_wait(folder, "original", release=go)
        return x

    with Context(workers=3, worker_timeout=600.0, appName="kill-gc-count") as ctx:
        join = faults.run_in_thread(lambda: ctx.parallelize(range(24), 24).map(hold).collect())
        faults.wait_for_marker(folder, "original")
        copy_pid = faults.wait_for_marker(folder, "copy")[0]
        faults.touch(go)                             # the original wins; the copy is killed
        assert sorted(join()) == list(range(24))

        def threshold(_):
            import gc
            return os.getpid(), gc.get_threshold()[0]
        seen = faults.wait_until(
            lambda: {t for pid, t in ctx.parallelize(range(12), 12).map(threshold).collect()
                     if pid == copy_pid} or None,
            "a task on the copy's worker", timeout=120)
    from minibig.core.stages import RDD_YOUNG_THRESHOLD
    assert seen == {RDD_YOUNG_THRESHOLD}, f"the copy's worker kept the leaked threshold: {seen}"
