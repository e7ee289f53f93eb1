"""Every *_init and *_final hook, each run once per task, each yielding pairs."""

from minibig.mapreduce import MRJob


class MRHooksJob(MRJob):

    def mapper_init(self):
        self.lines = 0
        yield "init", "mapper"

    def mapper(self, _, line):
        self.lines += 1
        yield "line", 1

    def mapper_final(self):
        yield "lines seen by mapper tasks", self.lines

    def combiner_init(self):
        self.calls = 0
        return None                      # a hook may also be a plain function

    def combiner(self, key, values):
        self.calls += 1
        values = list(values)
        if key == "line":
            yield key, sum(values)
        else:
            for value in values:
                yield key, value

    def combiner_final(self):
        yield "combiner tasks", 1

    def reducer_init(self):
        self.keys = []

    def reducer(self, key, values):
        self.keys.append(key)
        values = list(values)
        yield key, sorted(values) if key == "init" else sum(values)

    def reducer_final(self):
        yield "keys per reducer", len(self.keys)


if __name__ == "__main__":
    MRHooksJob.run()
