"""Worker processes under a CPU quota: `minibig bench --cpu-quota Q`.

A 2-core machine cannot show how 8 machines scale, but 8 workers limited to
a quarter of a CPU each can: each worker process is moved into a cgroup of
its own whose CPU bandwidth is Q CPUs (Q x the period, per period). The
master and the driver stay outside (they are the cluster's head, not its
machines). Both cgroup versions are used, whichever offers the `cpu`
controller:

    cgroup v2   <mount>/<our cgroup>/minibig-bench-<pid>/w<i>/cpu.max = "<quota> <period>"
    cgroup v1   <cpu mount>/<our cgroup>/minibig-bench-<pid>/w<i>/cpu.cfs_quota_us

found from /proc/self/mounts and /proc/self/cgroup. Creating cgroups needs
root (or a delegated subtree); when neither version can be used the error
says why, and what was looked at. `CpuQuota` removes its cgroups when
closed; each worker's `cpu.stat` (periods, and how many of them throttled
it) is read first, so a report can show that the quota bit.
"""

from __future__ import annotations

import os

from minibig.errors import UserError

PERIOD_US = 100_000            # the kernel's default CFS period, 100 ms
MIN_QUOTA_US = 1_000           # the kernel refuses less than 1 ms per period


class CgroupError(UserError):
    """The CPU quota cannot be applied on this machine (the message says why)."""


def mounts(text: str | None = None) -> list[tuple[str, str, set]]:
    """(mount point, file system type, options) of every cgroup mount."""
    if text is None:
        with open("/proc/self/mounts") as f:
            text = f.read()
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            out.append((fields[1], fields[2], set(fields[3].split(","))))
    return out


def own_cgroups(text: str | None = None) -> dict:
    """This process's cgroup path per hierarchy: {"": v2 path, "cpu": v1 cpu path, ...}."""
    if text is None:
        with open("/proc/self/cgroup") as f:
            text = f.read()
    paths = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def find_cpu_controller(mount_list=None, own=None) -> tuple[str, str]:
    """("v2" or "v1", the folder our quota cgroups go in); CgroupError naming what is missing."""
    mount_list = mounts() if mount_list is None else mount_list
    own = own_cgroups() if own is None else own
    looked = []
    for point, kind, options in mount_list:
        if kind == "cgroup2":
            parent = os.path.join(point, own.get("", "/").lstrip("/"))
            if "cpu" in _read(os.path.join(parent, "cgroup.controllers")).split():
                return "v2", parent
            looked.append(f"cgroup v2 at {point} offers no cpu controller")
    for point, kind, options in mount_list:
        if kind == "cgroup" and "cpu" in options:
            parent = os.path.join(point, own.get("cpu", "/").lstrip("/"))
            if os.path.exists(os.path.join(parent, "cpu.cfs_quota_us")):
                return "v1", parent
            looked.append(f"cgroup v1 cpu at {point} has no cpu.cfs_quota_us")
    if not mount_list:
        looked.append("no cgroup file system is mounted (/proc/self/mounts)")
    raise CgroupError("--cpu-quota needs a cgroup cpu controller (v2 cpu.max or v1 "
                      "cpu.cfs_quota_us) that this user may write: " + "; ".join(looked or ["none found"]))


def quota_us(cpus: float) -> int:
    """Microseconds per period for `cpus` CPUs."""
    us = int(round(cpus * PERIOD_US))
    if us < MIN_QUOTA_US:
        raise CgroupError(f"--cpu-quota {cpus:g}: below the kernel's minimum of "
                          f"{MIN_QUOTA_US / PERIOD_US:g} CPU")
    return us


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise CgroupError(f"--cpu-quota: cannot write {text.strip()!r} to {path}: {exc.strerror} "
                          "(creating cgroups needs root or a delegated cgroup)") from None


class CpuQuota:
    """A cgroup per worker, each allowed `cpus` CPUs; a context manager that removes them."""

    def __init__(self, cpus: float, controller: tuple[str, str] | None = None):
        self.cpus = cpus
        self.us = quota_us(cpus)
        self.version, parent = controller or find_cpu_controller()
        self.parent = parent
        self.base = os.path.join(parent, f"minibig-bench-{os.getpid()}")
        self.groups: list[str] = []
        try:
            os.makedirs(self.base, exist_ok=True)
        except OSError as exc:
            raise CgroupError(f"--cpu-quota: cannot create the cgroup {self.base}: {exc.strerror} "
                              "(creating cgroups needs root or a delegated cgroup)") from None
        if self.version == "v2":
            # The controller must be handed down to our new cgroup, then to its children.
            if "cpu" not in _read(os.path.join(self.base, "cgroup.controllers")).split():
                _write(os.path.join(parent, "cgroup.subtree_control"), "+cpu")
            _write(os.path.join(self.base, "cgroup.subtree_control"), "+cpu")

    @property
    def mechanism(self) -> str:
        """How the quota is applied, for titles: 'cgroup v1 cpu.cfs_quota_us'."""
        return f"cgroup {self.version} " + ("cpu.max" if self.version == "v2" else "cpu.cfs_quota_us")

    def limit(self, pid: int) -> str:
        """Move process `pid` into a new cgroup of its own with the quota; the cgroup's path."""
        group = os.path.join(self.base, f"w{len(self.groups)}")
        os.makedirs(group, exist_ok=True)
        self.groups.append(group)
        if self.version == "v2":
            _write(os.path.join(group, "cpu.max"), f"{self.us} {PERIOD_US}")
        else:
            _write(os.path.join(group, "cpu.cfs_period_us"), str(PERIOD_US))
            _write(os.path.join(group, "cpu.cfs_quota_us"), str(self.us))
        _write(os.path.join(group, "cgroup.procs"), str(pid))
        return group

    def stats(self) -> list[dict]:
        """Each group's cpu.stat: {nr_periods, nr_throttled, throttled_s}."""
        out = []
        for group in self.groups:
            raw = dict(line.split() for line in _read(os.path.join(group, "cpu.stat")).splitlines()
                       if len(line.split()) == 2)
            throttled = (int(raw.get("throttled_usec", 0)) / 1e6 if self.version == "v2"
                         else int(raw.get("throttled_time", 0)) / 1e9)
            out.append({"nr_periods": int(raw.get("nr_periods", 0)),
                        "nr_throttled": int(raw.get("nr_throttled", 0)), "throttled_s": throttled})
        return out

    def close(self) -> None:
        """Remove the cgroups (a process still in one goes back to ours first)."""
        for group in [*self.groups, self.base]:
            for pid in _read(os.path.join(group, "cgroup.procs")).split():
                try:
                    _write(os.path.join(self.parent, "cgroup.procs"), pid)
                except CgroupError:
                    pass                  # it exited meanwhile
            try:
                os.rmdir(group)
            except OSError:
                pass
        self.groups = []

    def __enter__(self) -> "CpuQuota":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
