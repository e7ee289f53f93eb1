"""Word count whose map or reduce tasks announce themselves and wait for a go-ahead.

Each task of the chosen stage writes `<stage>-<pid>-<ns>` into --folder when it
ends its input, then waits (bounded) for the file --release, so that a test can
SIGKILL a worker while the stage runs (tests/test_faults.py).
"""

import os
import sys
import time

# The word count itself is the example job's (jobs/ is not a package).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "jobs"))
from mr_word_freq import MRWordFreqCount  # noqa: E402


class MRPausingWordFreq(MRWordFreqCount):
    """jobs/mr_word_freq.py's word count, its map or reduce tasks pausing after their input."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--folder", required=True, help="where tasks announce themselves")
        self.add_passthru_arg("--release", required=True, help="the file that lets them go on")
        self.add_passthru_arg("--stage", choices=["map", "reduce"], required=True)

    def mapper_final(self):
        if self.options.stage == "map":
            self._announce_and_wait()

    def reducer_final(self):
        if self.options.stage == "reduce":
            self._announce_and_wait()

    def _announce_and_wait(self):
        name = os.path.join(self.options.folder, f"{self.options.stage}-{os.getpid()}-{time.monotonic_ns()}")
        with open(name + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(name + ".tmp", name)
        deadline = time.monotonic() + 120.0
        while not os.path.exists(self.options.release) and time.monotonic() < deadline:
            time.sleep(0.01)           # a worker-side wait for the test's file, bounded


if __name__ == "__main__":
    MRPausingWordFreq.run()
