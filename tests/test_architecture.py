"""The package's layers hold: imports run one way (docs/architecture.md).

The contracts live in pyproject.toml ([tool.importlinter]); import-linter
checks every import, direct or indirect, at module level or inside a
function, and names the chain of a broken one.
"""

import shutil
import subprocess
import sys

from support import REPO, env


def _lint_imports() -> subprocess.CompletedProcess:
    command = shutil.which("lint-imports") or shutil.which("lint-imports", path=sys.prefix + "/bin")
    assert command, "import-linter is in the test extra: pip install -e '.[test]'"
    return subprocess.run([command, "--config", "pyproject.toml", "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, env=env(), timeout=300)


def test_import_contracts_are_kept():
    done = _lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" in done.stdout and " 0 broken" in done.stdout


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(),
                         check=True, timeout=120).stdout
    return set(out.split())


def test_import_minibig_is_cheap():
    loaded = _modules_loaded_by("import minibig")
    heavy = {"zmq", "numpy", "numba", "pyarrow", "cloudpickle", "minibig.rdd.base"}
    assert not heavy & loaded, sorted(heavy & loaded)


def test_the_portable_hash_loads_nothing_of_the_engine():
    loaded = _modules_loaded_by("import minibig.shuffle.hashing")
    assert not {m for m in loaded if m.startswith(("zmq", "minibig.rdd", "minibig.core", "numba"))}


def test_a_driver_that_never_shuffles_numbers_does_not_load_numba_or_pyarrow():
    loaded = _modules_loaded_by("from minibig import Context; import minibig.mapreduce")
    assert not {"numba", "pyarrow"} & loaded
