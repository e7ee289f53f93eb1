"""A mapper and a reducer that yield one list and then keep growing it.

mrjob encodes each pair when it is yielded, so every pair holds the list as
it was then: the mapper gives each word the words of its line up to it, the
reducer each word the lengths of those prefixes seen so far (in order).
"""

from minibig.mapreduce import MRJob


class MRGrowingListsJob(MRJob):

    def mapper(self, _, line):
        seen = []
        for word in line.split():
            seen.append(word)
            yield word, seen

    def reducer(self, word, prefixes):
        lengths = []
        for n in sorted(map(len, prefixes)):
            lengths.append(n)
            yield word, lengths


if __name__ == "__main__":
    MRGrowingListsJob.run()
