"""A combiner that yields one list and then keeps growing it.

Each word's values are one-item lists; the combiner yields its running
concatenation after each value, the same list grown in place. mrjob
encodes each pair when it is yielded, so the reducer receives lists of
lengths 1, 2, ... n for a word a map task saw n times (with the combiner
run on every key: -D minibig.combine.min.values=1).
"""

from minibig.mapreduce import MRJob


class MRGrowingCombinerJob(MRJob):

    def mapper(self, _, line):
        for word in line.split():
            yield word, [1]

    def combiner(self, word, values):
        total = []
        for value in values:
            total.extend(value)
            yield word, total

    def reducer(self, word, values):
        yield word, sorted(map(len, values))


if __name__ == "__main__":
    MRGrowingCombinerJob.run()
