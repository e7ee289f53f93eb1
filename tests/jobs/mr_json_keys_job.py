"""Keys of every JSON type: grouped and sorted by their JSON text, decoded for the reducer.

Each input line is a JSON array [key, value]; the reducer reports the key it
received, its type, and the values.
"""

import json

from minibig.mapreduce import MRJob


class MRJSONKeysJob(MRJob):

    def mapper(self, _, line):
        key, value = json.loads(line)
        if isinstance(key, list) and key and key[0] == "tuple":
            key = tuple(key[1:])
        yield key, value

    def reducer(self, key, values):
        yield [key, type(key).__name__], sorted(values, key=json.dumps)


if __name__ == "__main__":
    MRJSONKeysJob.run()
