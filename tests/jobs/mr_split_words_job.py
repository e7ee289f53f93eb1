"""Word count's split-and-emit mapper shape with a str constant and hooks around it."""

from minibig.mapreduce import MRJob


class MRSplitWordsJob(MRJob):

    def mapper_init(self):
        yield "the", "from mapper_init"

    def mapper(self, _, line):
        for token in line.split():
            yield token, "seen"

    def mapper_final(self):
        yield "the", "from mapper_final"

    def reducer(self, word, values):
        values = list(values)
        yield word, [values.count("seen"), sorted(v for v in values if v != "seen")]


if __name__ == "__main__":
    MRSplitWordsJob.run()
