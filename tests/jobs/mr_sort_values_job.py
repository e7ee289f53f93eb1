"""Secondary sort: SORT_VALUES makes each key's values arrive sorted by their encoding.

The reducer emits the values in the order it receives them.
"""

from minibig.mapreduce import MRJob


class MRSortValuesJob(MRJob):
    SORT_VALUES = True

    def mapper(self, _, line):
        key, value = line.split("\t")
        yield key, value

    def reducer(self, key, values):
        yield key, list(values)


if __name__ == "__main__":
    MRSortValuesJob.run()
