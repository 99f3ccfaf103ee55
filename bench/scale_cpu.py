"""CPU accounting for bench/scale.py: per process from /proc/<pid>/stat, the machine from /proc/stat."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu(pids: list[int]) -> float:
    return sum(cpu_of(pid) for pid in pids)


def tree(pid: int) -> list[int]:
    """pid and its descendants (serve --workers N forks N workers; nginx forks its worker)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found += tree(int(entry.name))
    return found


def named(name: str) -> list[int]:
    """Processes whose command name starts with `name` (the machine's postgres, redis-server)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith(name):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _stat() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def machine() -> float:
    """CPU seconds the whole machine has been busy (all cores: user, system, irq, softirq)."""
    user, nice, system, _idle, _iowait, irq, softirq, _steal = _stat()
    return (user + nice + system + irq + softirq) / TICK


def steal() -> float:
    """CPU seconds the hypervisor gave our virtual CPUs to someone else."""
    return _stat()[7] / TICK


def background(seconds: float = 1.0) -> float:
    """Cores the machine keeps busy over `seconds` while we do nothing (other jobs)."""
    start = machine()
    time.sleep(seconds)
    return (machine() - start) / seconds


def wait_quiet(limit_s: float, cores: float = 0.15) -> float:
    """Wait up to limit_s for the machine to be quieter than `cores`; the last background."""
    deadline = time.monotonic() + limit_s
    busy = background()
    while busy > cores and time.monotonic() < deadline:
        busy = background()
    return busy


SPIN = "x = 0\nfor i in range({n}): x += i\n"  # fixed work: ~1 s of pure Python


def parallel_speedup(iterations: int = 20_000_000) -> float:
    """Work rate of 2 CPU-bound processes at once over 1 alone (2.0 on two free, whole cores;
    less when the cores are busy or are siblings of one physical core)."""
    def spin(n: int) -> float:
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", SPIN.format(n=iterations)])
                 for _ in range(n)]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - started
    alone = spin(1)
    return 2 * alone / spin(2)


def waited(pid: int) -> float:
    """Seconds the process has been runnable but waiting for a core (/proc/<pid>/schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def workers(gateway: list[int]) -> list[int]:
    """The serving processes of a gateway tree: its children, less multiprocessing's helper."""
    if len(gateway) == 1:
        return gateway
    found = []
    for pid in gateway[1:]:
        try:
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found
