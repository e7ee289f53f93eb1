"""Two steps: count words, then group the words by their count (count -> sorted words).

Exercises a multi-step job whose second step re-keys the first step's output
by an int, so the second step's reducers see int keys in JSON-text order.
"""

from minibig.mapreduce import MRJob, MRStep


class MRTwoStepJob(MRJob):

    def steps(self):
        return [MRStep(mapper=self.mapper_words, combiner=self.sum_counts, reducer=self.sum_counts),
                MRStep(mapper=self.mapper_by_count, reducer=self.reducer_words)]

    def mapper_words(self, _, line):
        for word in line.split():
            yield word, 1

    def sum_counts(self, word, counts):
        yield word, sum(counts)

    def mapper_by_count(self, word, count):
        yield count, word

    def reducer_words(self, count, words):
        yield count, sorted(words)


if __name__ == "__main__":
    MRTwoStepJob.run()
