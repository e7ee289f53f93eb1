"""Mean word length per first letter, with a combiner that changes the value's shape.

The mapper emits a bare length (an int); the combiner emits [total, count];
the reducer accepts both, so the answer is the same whether the combiner
ran on all keys, some keys, or none. A counter records the combiner calls.
"""

from minibig.mapreduce import MRJob


class MRCombinerShapeJob(MRJob):

    def mapper(self, _, line):
        for word in line.split():
            yield word[0].lower(), len(word)

    def combiner(self, letter, values):
        self.increment_counter("combiner", "calls")
        total = count = 0
        for value in values:
            if isinstance(value, list):
                total, count = total + value[0], count + value[1]
            else:
                total, count = total + value, count + 1
        yield letter, [total, count]

    def reducer(self, letter, values):
        total = count = 0
        for value in values:
            if isinstance(value, list):
                total, count = total + value[0], count + value[1]
            else:
                total, count = total + value, count + 1
        yield letter, [total, count]


if __name__ == "__main__":
    MRCombinerShapeJob.run()
