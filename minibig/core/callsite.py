"""The line of the user's program that made a dataset.

Every dataset remembers where it was created, so that an error in a task can
say "map at wordcount.py:14" instead of naming an engine internal.
"""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # minibig/


def user_call_site() -> str:
    """'file:line' of the innermost caller outside the minibig package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return "<minibig>"
