"""Protocols: how a job's (key, value) pairs become lines of bytes, and back.

These follow mrjob's protocols (Python 3 flavour): a protocol is an object
with `read(line) -> (key, value)` and `write(key, value) -> bytes`, lines
without their trailing newline. A job names three of them:

    INPUT_PROTOCOL     decodes the input lines for the first mapper
                       (default RawValueProtocol: key None, value the line)
    INTERNAL_PROTOCOL  what travels between mapper, combiner and reducer, and
                       between steps (default JSONProtocol)
    OUTPUT_PROTOCOL    encodes the last step's output (default JSONProtocol:
                       `"key"<TAB>value` lines)

`JSONProtocol` uses the standard library's `json` with its defaults, as
mrjob's StandardJSONProtocol does: tuples come back as lists and dict keys
as strings. The built-in protocols also accept a `str` line in `read`
(minibig's text input is already decoded), which custom protocols need not.

>>> JSONProtocol().write("word", 3)
b'"word"\\t3'
>>> JSONProtocol().read(b'["a", 1]\\t{"b": [2, 3]}')
(['a', 1], {'b': [2, 3]})
>>> RawValueProtocol().read(b"a line")
(None, 'a line')
>>> PickleProtocol().read(PickleProtocol().write((1, 2), {3}))
((1, 2), {3})
>>> ReprProtocol().write("k", [1, None])
b"'k'\\t[1, None]"
"""

from __future__ import annotations

import ast
import json
import pickle
from json.encoder import encode_basestring_ascii

_INFINITY = float("inf")


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


_JSON_SCALARS = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    float: _float_text,
    bool: lambda v: "true" if v else "false",
    type(None): lambda v: "null",
}


def json_text(value) -> str:
    """`json.dumps(value)`, with a shortcut for strings, numbers, booleans and None.

    >>> json_text("é"), json_text(2.5), json_text((1, "a")), json_text({"k": None})
    ('"\\\\u00e9"', '2.5', '[1, "a"]', '{"k": null}')
    """
    encode = _JSON_SCALARS.get(type(value))
    return encode(value) if encode is not None else json.dumps(value)


def _as_text(line) -> str:
    return line.decode("utf-8") if isinstance(line, (bytes, bytearray)) else line


class _KeyCachingProtocol:
    """Two encoded fields separated by a tab; the last decoded key is reused.

    Consecutive lines of a reducer's input usually share their key, so
    decoding a key only when its text changes saves most of the work.
    Subclasses give `_loads(raw)` and `_dumps(value) -> bytes`.
    """

    _last_key_encoded = None
    _last_key_decoded = None

    def _loads(self, raw):
        raise NotImplementedError

    def _dumps(self, value) -> bytes:
        raise NotImplementedError

    def read(self, line):
        """Decode one line into (key, value)."""
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        raw_key, raw_value = line.split(b"\t", 1)
        if raw_key != self._last_key_encoded:
            self._last_key_encoded = raw_key
            self._last_key_decoded = self._loads(raw_key)
        return self._last_key_decoded, self._loads(raw_value)

    def write(self, key, value) -> bytes:
        """Encode (key, value) as one line, without its newline."""
        return self._dumps(key) + b"\t" + self._dumps(value)


class JSONProtocol(_KeyCachingProtocol):
    """Key and value as two JSON texts separated by a tab (mrjob's default).

    JSON has no tuples (they become lists) and object keys are strings.
    """

    def _loads(self, raw):
        return json.loads(raw)

    def _dumps(self, value) -> bytes:
        return json_text(value).encode("ascii")

    def write(self, key, value) -> bytes:
        """Encode (key, value) as `json(key)<TAB>json(value)`."""
        return (json_text(key) + "\t" + json_text(value)).encode("ascii")


class JSONValueProtocol:
    """The value as one JSON text; the key is dropped on write and read as None."""

    def read(self, line):
        """Decode a JSON line into (None, value)."""
        return None, json.loads(line)

    def write(self, key, value) -> bytes:
        """Encode the value alone."""
        return json_text(value).encode("ascii")


class PickleProtocol(_KeyCachingProtocol):
    """Key and value as two pickles, escaped so no raw tab or newline remains.

    Works for any picklable type; the classes of the values must be
    importable wherever the lines are read.
    """

    def _loads(self, raw):
        return pickle.loads(raw.decode("unicode_escape").encode("latin_1"))

    def _dumps(self, value) -> bytes:
        return pickle.dumps(value).decode("latin_1").encode("unicode_escape")


class PickleValueProtocol:
    """The value as one escaped pickle; the key is dropped and read as None."""

    def read(self, line):
        """Decode an escaped pickle into (None, value)."""
        if isinstance(line, str):
            line = line.encode("latin_1")
        return None, pickle.loads(line.decode("unicode_escape").encode("latin_1"))

    def write(self, key, value) -> bytes:
        """Encode the value alone."""
        return pickle.dumps(value).decode("latin_1").encode("unicode_escape")


class BytesProtocol:
    """Key and value are bytes joined by a tab; a line without a tab reads as (line, None).

    On write, a None key or value is left out (with its tab).
    """

    def read(self, line):
        """Split at the first tab."""
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        key, tab, value = line.partition(b"\t")
        return key, (value if tab else None)

    def write(self, key, value) -> bytes:
        """Join the non-None fields with a tab."""
        return b"\t".join(x for x in (key, value) if x is not None)


class BytesValueProtocol:
    """The whole line, as bytes, is the value; the key is None."""

    def read(self, line):
        """(None, line) as bytes."""
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        return None, line

    def write(self, key, value) -> bytes:
        """The value, which must be bytes."""
        return value


def _text(line) -> str:
    """A line as str: UTF-8, or latin-1 when that fails (as mrjob reads text)."""
    if isinstance(line, (bytes, bytearray)):
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            return line.decode("latin_1")
    return line


class TextProtocol:
    """Key and value are str joined by a tab (UTF-8); a line without a tab reads as (line, None).

    A line that is not UTF-8 is read as latin-1, as in mrjob.
    """

    def read(self, line):
        """Split the decoded line at its first tab."""
        line = _text(line)
        key, tab, value = line.partition("\t")
        return key, (value if tab else None)

    def write(self, key, value) -> bytes:
        """UTF-8 encode the non-None fields and join them with a tab."""
        return b"\t".join(x.encode("utf-8") for x in (key, value) if x is not None)


class TextValueProtocol:
    """The whole line, as str, is the value; the key is None (the default input protocol)."""

    def read(self, line):
        """(None, line) as str (UTF-8, or latin-1 when that fails)."""
        line = _text(line)
        return None, line

    def write(self, key, value) -> bytes:
        """The value, UTF-8 encoded."""
        return value.encode("utf-8")


def safe_eval(text):
    """Evaluate a repr of basic Python values (literals, set(), frozenset(), range()).

    >>> safe_eval("{'a': (1, 2.5, None)}"), safe_eval("set()"), safe_eval("range(0, 3)")
    ({'a': (1, 2.5, None)}, set(), range(0, 3))
    """
    text = _as_text(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    tree = ast.parse(text, mode="eval")
    allowed = {"set": set, "frozenset": frozenset, "range": range, "True": True,
               "False": False, "None": None}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise ValueError(f"name {node.id!r} is not allowed in a repr-encoded value")
        if isinstance(node, (ast.Attribute, ast.Lambda, ast.NamedExpr)):
            raise ValueError(f"{type(node).__name__} is not allowed in a repr-encoded value")
    return eval(compile(tree, "<repr>", "eval"), {"__builtins__": {}}, allowed)


class ReprProtocol(_KeyCachingProtocol):
    """Key and value as two Python reprs separated by a tab (basic types only)."""

    def _loads(self, raw):
        return safe_eval(raw)

    def _dumps(self, value) -> bytes:
        return repr(value).encode("utf-8")


class ReprValueProtocol:
    """The value as one repr; the key is dropped and read as None."""

    def read(self, line):
        """(None, value) from a repr."""
        return None, safe_eval(line)

    def write(self, key, value) -> bytes:
        """The repr of the value."""
        return repr(value).encode("utf-8")


#: Python 3 mrjob: raw lines are text.
RawProtocol = TextProtocol
RawValueProtocol = TextValueProtocol
#: The standard-library JSON protocols under the names mrjob gives them.
StandardJSONProtocol = JSONProtocol
StandardJSONValueProtocol = JSONValueProtocol
