"""Mean word length per first letter, with a combiner that changes the value's shape.

The mapper emits a bare length (an int); the combiner emits [total, count];
the reducer accepts both, so the answer is the same whether the combiner
ran on all keys, some keys, or none. A counter records the combiner calls.
"""

from minibig.mapreduce import MRJob


def total_and_count(values) -> list:
    """[sum, how many] of word lengths, from raw lengths and [sum, how many] partials alike."""
    total = count = 0
    for value in values:
        if isinstance(value, list):
            total, count = total + value[0], count + value[1]
        else:
            total, count = total + value, count + 1
    return [total, count]


class MRCombinerShapeJob(MRJob):

    def mapper(self, _, line):
        for word in line.split():
            yield word[0].lower(), len(word)

    def combiner(self, letter, values):
        self.increment_counter("combiner", "calls")
        yield letter, total_and_count(values)

    def reducer(self, letter, values):
        yield letter, total_and_count(values)


if __name__ == "__main__":
    MRCombinerShapeJob.run()
