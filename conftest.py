"""Shared pytest fixtures: one real 2-worker cluster for the whole session.

`sc` is a Context on an embedded cluster (a master and two worker processes);
doctests in the package see it as `sc`, as PySpark's doctests do. Tests that
kill or stop processes start their own cluster instead of using this one.
"""

import pytest

from minibig import Context

# End-to-end modules that kill processes, start hosts, browsers or Spark: about half of
# the suite's time. `python -m pytest -m "not slow"` skips them while you work; CI runs all.
SLOW_MODULES = {
    "test_attacker", "test_bench_cli", "test_fault_soak", "test_faults", "test_graph_faults",
    "test_hosts", "test_lost_tasks", "test_portability", "test_streaming_recovery", "test_webui",
}


@pytest.fixture(scope="session")
def sc():
    """A Context on a real embedded cluster with 2 workers."""
    ctx = Context(workers=2, appName="tests")
    yield ctx
    ctx.stop()


@pytest.fixture(autouse=True)
def _doctest_context(request, doctest_namespace):
    if request.node.__class__.__name__ == "DoctestItem":
        doctest_namespace["sc"] = request.getfixturevalue("sc")


def pytest_collection_modifyitems(items):
    """Mark the tests of SLOW_MODULES `slow`."""
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session):
    """Pickle test-module functions and classes by value: workers cannot import test files.

    `faults` (the fault-injection helpers tasks call) is pickled by value too,
    once here for every test module that imported it.
    """
    import sys

    import cloudpickle
    modules = {item.module for item in session.items if getattr(item, "module", None) is not None}
    for module in modules:
        if module.__name__.startswith(("test_", "tests.")):
            cloudpickle.register_pickle_by_value(module)
    if "faults" in sys.modules:
        cloudpickle.register_pickle_by_value(sys.modules["faults"])
