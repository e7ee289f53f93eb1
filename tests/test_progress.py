"""Progress shows stages and tasks on a terminal and nothing elsewhere."""

import io

from minibig.core.progress import Progress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self):
        return True


def test_progress_on_a_terminal_counts_tasks_of_a_real_job(sc):
    screen = Terminal()
    real = sc._dag.progress
    sc._dag.progress = Progress(True, stream=screen)
    try:
        assert sc.parallelize(range(100), 8).map(lambda x: (x % 3, x)).reduceByKey(max).count() == 3
    finally:
        sc._dag.progress = real
    shown = screen.getvalue()
    assert "tasks]" in shown and "/8 tasks" in shown
    assert shown.endswith("\r\x1b[K"), "the line is cleared when the job ends"


def test_progress_is_silent_when_not_a_terminal(sc):
    pipe = io.StringIO()
    real = sc._dag.progress
    sc._dag.progress = Progress(True, stream=pipe)
    try:
        sc.parallelize(range(10), 2).count()
    finally:
        sc._dag.progress = real
    assert pipe.getvalue() == ""
