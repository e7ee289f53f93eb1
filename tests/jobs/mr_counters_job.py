"""Counters from every phase: exact totals, once per partition, whatever the retries."""

from minibig.mapreduce import MRJob


class MRCountersJob(MRJob):

    def mapper_init(self):
        self.increment_counter("tasks", "mapper")

    def mapper(self, _, line):
        self.increment_counter("lines", "all")
        if not line.strip():
            self.increment_counter("lines", "empty")
        for word in line.split():
            self.increment_counter("words", "long" if len(word) > 5 else "short", 1)
            yield len(word), 1

    def combiner(self, length, ones):
        self.increment_counter("tasks", "combiner calls")
        yield length, sum(ones)

    def reducer(self, length, counts):
        self.increment_counter("lengths", "distinct")
        self.increment_counter("group, with comma", "name, with comma", 2)
        self.set_status(f"length {length}")
        yield length, sum(counts)


if __name__ == "__main__":
    MRCountersJob.run()
