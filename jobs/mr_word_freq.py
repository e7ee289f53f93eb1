"""Word frequency: the MapReduce "hello world", with a combiner.

Shows the three functions of a step: the mapper emits (word, 1) for every
word of a line (`line.split()`, nothing else), the combiner sums the counts
of one map task before the shuffle, so only one pair per distinct word and
task crosses the network, and the reducer adds the partial sums. Because a
combiner may run zero or more times, it must take and give the same shape of
value as the reducer expects: here, counts.

    python jobs/mr_word_freq.py datasets/text/austen_emma.txt
    minibig submit --workers 2 jobs/mr_word_freq.py datasets/text -o /tmp/freq
"""

from minibig.mapreduce import MRJob


class MRWordFreqCount(MRJob):
    """Count how often each word occurs: output word -> count."""

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRWordFreqCount.run()
