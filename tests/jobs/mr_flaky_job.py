"""The first map task attempt to finish fails once (after counting); the retry succeeds.

The failed attempt's counter increments must not be counted: counters are
merged once per partition, from the attempt that succeeded.
"""

import os

from minibig.mapreduce import MRJob


class MRFlakyJob(MRJob):

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--marker", required=True,
                              help="a file created by the attempt that fails")

    def mapper(self, _, line):
        self.increment_counter("lines", "seen")
        yield line, 1

    def mapper_final(self):
        try:
            fd = os.open(self.options.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        raise RuntimeError("this attempt fails once, after counting its lines")

    def reducer(self, line, ones):
        yield line, sum(ones)


if __name__ == "__main__":
    MRFlakyJob.run()
