"""Protocols chosen on the command line: what survives each internal protocol.

The mapper emits a tuple value, holding a frozenset unless the internal
protocol is JSON (which has neither); the reducer reports the types it
received as a string, which every output protocol can write. --internal and
--output pick the protocols (overriding internal_protocol/output_protocol).
"""

from minibig.mapreduce import (JSONProtocol, MRJob, PickleProtocol, RawProtocol,
                               ReprProtocol)

PROTOCOLS = {"json": JSONProtocol, "pickle": PickleProtocol, "repr": ReprProtocol,
             "raw": RawProtocol}


class MRProtocolsJob(MRJob):

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--internal", default="json", choices=sorted(PROTOCOLS))
        self.add_passthru_arg("--output", default="json", choices=sorted(PROTOCOLS))

    def internal_protocol(self):
        return PROTOCOLS[self.options.internal]()

    def output_protocol(self):
        return PROTOCOLS[self.options.output]()

    def mapper(self, _, line):
        word = line.strip()
        if word:
            yield word, (len(word), frozenset(word) if self.options.internal != "json" else word)

    def reducer(self, word, values):
        value = next(iter(values))
        yield word, f"{type(value).__name__}/{type(value[1]).__name__}/{value[0]}"


if __name__ == "__main__":
    MRProtocolsJob.run()
