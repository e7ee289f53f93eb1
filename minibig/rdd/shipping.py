"""Modules shipped to the workers: a file, a package or a folder of modules as one zip.

`Context.addPyFile` ships the zip to every worker (and `minibig submit`
the job's folder); the PySpark shim (`minibig.rdd.spark_shim`) hands the
same zip to Spark's addPyFile, so a folder imports the same way on both.
"""

from __future__ import annotations

import io
import os
import zipfile


def zip_modules(path: str) -> bytes:
    """Zip a module, a package, or the modules and packages of a folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if os.path.isfile(path):
            zf.write(path, os.path.basename(path))
        else:
            is_package = os.path.isfile(os.path.join(path, "__init__.py"))
            base = os.path.dirname(path) if is_package else path
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__"))
                                 and (root != path or is_package
                                      or os.path.isfile(os.path.join(root, d, "__init__.py"))))
                for name in sorted(files):
                    if name.endswith(".py"):
                        full = os.path.join(root, name)
                        zf.write(full, os.path.relpath(full, base))
    return buffer.getvalue()
