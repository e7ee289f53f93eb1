"""mapper_raw: one call per input file, with its path; output file name -> line count."""

import os

from minibig.mapreduce import MRJob


class MRRawJob(MRJob):

    def mapper_raw(self, input_path, input_uri):
        with open(input_path, "rb") as f:
            yield os.path.basename(input_uri), sum(1 for _ in f)

    def reducer(self, name, counts):
        yield name, sum(counts)


if __name__ == "__main__":
    MRRawJob.run()
