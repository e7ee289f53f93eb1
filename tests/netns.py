"""Hosts that are really apart, on one machine: Linux network namespaces.

`Network` builds a private network for one test: a bridge in the root
namespace, and per host a namespace of its own, linked to the bridge by a
veth pair, with its own address on a /24 subnet that nothing on this
machine routes yet (10.77.N.0/24), and a disk of its own: each process
started on a host (`ip netns exec`, which gives it a mount namespace) mounts
a fresh tmpfs over the host's folder, holding its scratch folder (`work`)
and its TMPDIR (`tmp`). So a host's files are invisible to every other
host, as on separate machines: an engine that read another worker's shuffle
files by path would find nothing there. The bridge has the subnet's first
address, so the test process itself (a driver) is one more host.

Faults between hosts:

    host.kill_all()      SIGKILL every process of the namespace (a host that dies)
    host.cut()/heal()    its link down / up (a partition, then healed)
    host.shape(...)      delay and a bandwidth limit on its link, both ways
                         (tc netem; tbf, rate only, where the kernel has no netem)

Every name carries the test process's pid (`mb<pid>...`), so `close` finds
everything it made, and `sweep_stale` removes what a killed test run left
(namespaces and links whose pid is gone). Paths outside a host's folder
(input files, the tests' marker folders, job output) are shared by every
host, like a shared filesystem.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PREFIX = "mb"
_OURS = re.compile(rf"^{PREFIX}(\d+)[a-z]")


def unavailable() -> str | None:
    """Why network namespaces cannot be made here (one line), or None if they can."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add`)"
    probe = f"{PREFIX}{os.getpid()}probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip().splitlines()[0] if made.stderr else '?'}"
    _ip("netns", "del", probe, check=False)
    return None


def _ip(*args, check=True, netns=None) -> subprocess.CompletedProcess:
    argv = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    return _run(argv, check)


def _run(argv, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.77.N.0/24 no route or address of this machine overlaps (N varies with the pid)."""
    taken = []
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines() + \
            _ip("-4", "-o", "addr", "show").stdout.splitlines():
        for word in line.split():
            try:
                taken.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                pass
    start = os.getpid() % 200
    for k in range(250):
        net = ipaddress.ip_network(f"10.77.{(start + k) % 250 + 1}.0/24")
        if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
            return net
    raise RuntimeError("no free 10.77.N.0/24 subnet on this machine")


def sweep_stale() -> None:
    """Remove namespaces and links left by test processes that no longer exist."""
    for name in _ip("netns", "list", check=False).stdout.split():
        m = _OURS.match(name)
        if m and not psutil.pid_exists(int(m.group(1))):
            _kill_namespace(name)
            _ip("netns", "del", name, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        m = _OURS.match(name)
        if m and not psutil.pid_exists(int(m.group(1))):
            _ip("link", "del", name, check=False)


def _namespace_pids(netns: str) -> list[int]:
    out = _ip("netns", "pids", netns, check=False).stdout
    return [int(p) for p in out.split()]


def _kill_namespace(netns: str) -> list[int]:
    """SIGKILL every process in `netns`; the pids killed."""
    pids = _namespace_pids(netns)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    psutil.wait_procs([p for p in map(_process, pids) if p is not None], timeout=10)
    return pids


def _process(pid: int):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


# `ip netns exec` runs its command in a mount namespace of its own (mounts made there
# do not propagate back), so this tmpfs is seen by that process and its children only.
_PRIVATE_DISK = ('mount -t tmpfs -o mode=0700,size=1g tmpfs "$1" && mkdir "$1/work" "$1/tmp" '
                 '&& shift && exec "$@"')


@dataclass
class Host:
    """One namespace on the network: its address, its link, its own folders."""

    name: str                     # the namespace
    addr: str
    veth: str                     # the link's end on the bridge (cut, heal, shape here)
    root: Path
    procs: list = field(default_factory=list)

    @property
    def work_dir(self) -> str:
        """Its scratch folder (a worker's --work-dir)."""
        return str(self.root / "work")

    def popen(self, argv, env=None, **kw) -> subprocess.Popen:
        """Start `argv` inside the host, on the host's private disk (see the module doc)."""
        env = dict(os.environ if env is None else env)
        env["TMPDIR"] = str(self.root / "tmp")
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, "sh", "-c", _PRIVATE_DISK,
                                 "sh", str(self.root), *argv],
                                env=env, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(proc)
        return proc

    def python(self, code: str, timeout: float = 60.0, env=None) -> subprocess.CompletedProcess:
        """Run `python -c code` inside the host and wait for it (bounded)."""
        env = dict(os.environ if env is None else env)
        env["TMPDIR"] = str(self.root / "tmp")
        return subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", _PRIVATE_DISK,
                               "sh", str(self.root), sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def kill_all(self) -> list[int]:
        """The host dies: SIGKILL every process in it; the pids killed."""
        pids = _kill_namespace(self.name)
        for proc in self.procs:
            proc.poll()
        return pids

    def cut(self) -> None:
        """Partition the host from every other one (its link down)."""
        _ip("link", "set", self.veth, "down")

    def heal(self) -> None:
        """Bring its link back up."""
        _ip("link", "set", self.veth, "up")

    def shape(self, delay_ms: int, rate: str) -> str:
        """Delay and limit traffic both ways on the host's link; which qdisc did it."""
        netem = ["netem", "delay", f"{delay_ms}ms", "rate", rate]
        # tbf: a bandwidth limit only, for kernels built without sch_netem
        tbf = ["tbf", "rate", rate, "burst", "32kbit", "latency", "2s"]
        for qdisc in (netem, tbf):
            outward = _run(["ip", "netns", "exec", self.name, "tc", "qdisc", "replace", "dev",
                            "eth0", "root", *qdisc], check=False)
            if outward.returncode == 0:
                _run(["tc", "qdisc", "replace", "dev", self.veth, "root", *qdisc])
                return " ".join(qdisc)
        raise RuntimeError(f"tc could not shape {self.name}: {outward.stderr.strip()}")


class Network:
    """A bridge and hosts on a private subnet; `close` removes everything it made."""

    def __init__(self, scratch: Path):
        sweep_stale()
        self.tag = f"{PREFIX}{os.getpid()}"
        self.scratch = scratch
        self.subnet = _free_subnet()
        self.addresses = iter(self.subnet.hosts())
        self.bridge = f"{self.tag}br"
        self.hosts: list[Host] = []
        _ip("link", "add", self.bridge, "type", "bridge")
        self.gateway = str(next(self.addresses))
        _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_host(self) -> Host:
        """A new namespace on the bridge, with its address and folders."""
        k = len(self.hosts)
        name, veth, addr = f"{self.tag}h{k}", f"{self.tag}v{k}", str(next(self.addresses))
        _ip("netns", "add", name)
        host = Host(name, addr, veth, self.scratch / f"h{k}")
        self.hosts.append(host)
        host.root.mkdir(parents=True, mode=0o700)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        _ip("addr", "add", f"{addr}/{self.subnet.prefixlen}", "dev", "eth0", netns=name)
        _ip("link", "set", "eth0", "up", netns=name)
        _ip("link", "set", "lo", "up", netns=name)
        return host

    def close(self) -> None:
        """Kill every process of every host, then remove the namespaces and the bridge."""
        for host in self.hosts:
            host.kill_all()
            for proc in host.procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            _ip("netns", "del", host.name, check=False)   # its veth pair goes with it
            _ip("link", "del", host.veth, check=False)
        _ip("link", "del", self.bridge, check=False)

    def leftovers(self) -> list[str]:
        """Namespaces and links of this network still there (none after `close`)."""
        names = _ip("netns", "list", check=False).stdout.split()
        links = [line.split(":")[1].strip().split("@")[0]
                 for line in _ip("-o", "link", "show", check=False).stdout.splitlines()]
        return [n for n in names + links if n.startswith(self.tag)]
