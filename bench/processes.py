"""Memory (PSS) and CPU time of process trees, read from Linux ``/proc``.

``make bench`` polls the peak memory of the Spark JVM, its Python workers, the driver's Python
and the reference's processes (:class:`MemorySampler`); ``python -m bench.text`` counts the CPU
seconds of the JVM and its workers (:func:`process_tree_cpu`).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass

MEMORY_GROUPS = ("jvm_mib", "python_workers_mib", "driver_python_mib", "reference_mib")


@dataclass(frozen=True)
class ProcessInfo:
    parent: int
    command: str
    #: user + system time of the process and of its reaped children (``utime stime cutime cstime``)
    cpu_seconds: float


def process_table() -> dict[int, ProcessInfo]:
    """Every live process, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    raw = fh.read()
            except OSError:
                continue  # the process has just exited
            fields = raw.rsplit(")", 1)[1].split()  # the command, in parentheses, may hold spaces
            table[int(entry)] = ProcessInfo(parent=int(fields[1]), command=raw[raw.index("(") + 1:raw.rindex(")")],
                                            cpu_seconds=sum(int(x) for x in fields[11:15]) / tick)
    return table


def children_by_parent(table: dict[int, ProcessInfo]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for pid, info in table.items():
        children[info.parent].append(pid)
    return children


def descendants(children: dict[int, list[int]], roots: list[int]) -> set[int]:
    """``roots`` and every process below them."""
    found, stack = set(), list(roots)
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(children.get(pid, []))
    return found


def process_tree_cpu(root_pid: int) -> float:
    """CPU seconds used so far by ``root_pid`` and all its descendants.

    Live processes' own time plus the time of their reaped children (``cutime``), so that
    Python workers that have exited are counted once.
    """
    table = process_table()
    return sum(table[pid].cpu_seconds for pid in descendants(children_by_parent(table), [root_pid]) if pid in table)


def pss_bytes(pid: int) -> int:
    """Proportional set size: resident memory with pages shared by forked workers split between them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0  # the process has just exited


def memory_sample() -> dict[str, float]:
    """MiB (PSS) now: the JVM child(ren) of this process, their descendants (the Python workers,
    summed), this process (the driver's Python), and its other descendants (the reference's processes)."""
    table = process_table()
    children = children_by_parent(table)
    me = os.getpid()
    jvms = [p for p in children[me] if table[p].command == "java"]
    under_jvm = descendants(children, jvms)
    groups = {"jvm_mib": jvms, "python_workers_mib": under_jvm - set(jvms), "driver_python_mib": [me],
              "reference_mib": descendants(children, [me]) - under_jvm - {me}}
    return {key: sum(pss_bytes(p) for p in pids) / 2**20 for key, pids in groups.items()}


class MemorySampler(threading.Thread):
    """Peaks of :func:`memory_sample`, polled every ``interval`` seconds in a daemon thread."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self._lock, self._halt = interval, threading.Lock(), threading.Event()
        self._peaks = dict.fromkeys(MEMORY_GROUPS, 0.0)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            sample = memory_sample()
            with self._lock:
                for key, value in sample.items():
                    self._peaks[key] = max(self._peaks[key], value)

    def take(self) -> dict[str, float]:
        """The peaks since the last call (MiB), then start again."""
        with self._lock:
            peaks, self._peaks = self._peaks, dict.fromkeys(self._peaks, 0.0)
        return {k: round(v, 1) for k, v in peaks.items()}

    def stop(self) -> None:
        self._halt.set()
