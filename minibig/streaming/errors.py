"""The one error a streaming job raises for bad input or a failing user function.

It names the operator (its plan name, e.g. ``window-4``) and the record, and
chains the original exception (``raise ... from exc``) so its type and
traceback stay visible. The chained exception travels with it when it is
pickled (a stream task's error, sent to the driver), so ``__cause__`` is the
user's own exception on a cluster as in this process. A record that does not
pickle (it holds a lock, a socket) travels as its text (``RecordText``), so
the driver still raises the ``StreamError``, with the same message.
"""

from __future__ import annotations

from contextlib import contextmanager

_RECORD_PREVIEW = 200


class StreamError(Exception):
    """A record an operator could not handle: ``operator`` and ``record`` say which."""

    def __init__(self, operator: str, record, problem: str):
        self.operator = operator
        self.record = record
        self.problem = problem
        super().__init__(f"{operator}: {problem} (record {_preview(record)})")

    def __reduce__(self):
        return (_rebuilt, (self.operator, self.record, self.problem, self.__cause__), self.__dict__)

    def with_record_text(self) -> "StreamError":
        """This error and its cause with the record replaced by its text
        (``RecordText``, the preview the message shows, so a huge record does not
        travel whole): what can travel when the record itself does not pickle."""
        return _rebuilt(self.operator, RecordText(_preview(self.record)), self.problem, self.__cause__)


class RecordText(str):
    """The ``repr`` of a record that could not leave its worker (it does not pickle);
    its own ``repr`` is that text, so an error's message reads the same."""

    __slots__ = ()

    def __repr__(self):
        return str(self)


def _rebuilt(operator, record, problem, cause) -> StreamError:
    """A pickled StreamError, chained again to the exception that caused it."""
    error = StreamError(operator, record, problem)
    error.__cause__ = cause
    return error


def user_text(describe, value, stand_in: str) -> str:
    """``describe(value)`` (``repr`` or ``str``, the user's own): one that raises must not replace
    the error being reported, so ``stand_in`` does, its ``{type}`` and ``{failure}`` filled in."""
    try:
        return describe(value)
    except Exception as failure:      # noqa: BLE001 - the user's __repr__ or __str__, any failure
        return stand_in.format(type=type(value).__name__, failure=type(failure).__name__)


def exception_text(exc: BaseException) -> str:
    """``"Type: message"`` of a user's exception, whose own ``__str__`` may raise."""
    return f"{type(exc).__name__}: " + user_text(str, exc, "<str() raised {failure}>")


def _preview(record) -> str:
    """``repr(record)``, cut at ``_RECORD_PREVIEW`` characters; its type stands in for a ``repr``
    that raises."""
    text = user_text(repr, record, "<{type} object, repr raised {failure}>")
    return text if len(text) <= _RECORD_PREVIEW else text[:_RECORD_PREVIEW] + "..."


@contextmanager
def closed_after(close):
    """Run the ``with`` body, then ``close()`` what it ran. When the body fails, its failure
    stays the error to report (as Flink disposes a failed task's functions), and one that
    ``close`` raises too is noted on it rather than replacing it."""
    try:
        yield
    except BaseException as failure:
        try:
            close()
        except Exception as exc:            # noqa: BLE001 - kept, as a note on the first failure
            failure.add_note(f"closing after this failure failed too: {exception_text(exc)}")
        raise
    close()
