"""Memory (PSS) and CPU time of process trees, read from Linux ``/proc``.

``make bench`` polls the peak memory of the Spark JVM, its Python workers, the driver's Python
and the reference's processes (:class:`MemorySampler` of :func:`memory_sample`), and of a Spark
Connect server's JVM, its Python workers and the client's Python (:func:`connect_memory_sample`);
``python -m bench.text`` counts the CPU seconds of the JVM and its workers (:func:`process_tree_cpu`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

MEMORY_GROUPS = ("jvm_mib", "python_workers_mib", "driver_python_mib", "reference_mib")
CONNECT_MEMORY_GROUPS = ("server_jvm_mib", "server_python_workers_mib", "client_python_mib")


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


def connect_memory_sample(server_pid: int, client_pid: int | None) -> dict[str, float]:
    """MiB (PSS) now of a Spark Connect server's process tree, rooted at ``server_pid`` (pyspark's
    ``spark-submit`` execs the JVM, so the root is the JVM once it started): its JVM(s) and the
    other processes below them (the Python workers, summed); and of the client's process tree
    (``client_pid`` and its descendants, summed; 0 before the client started)."""
    table = process_table()
    children = children_by_parent(table)
    server = {p for p in descendants(children, [server_pid]) if p in table}
    jvms = {p for p in server if table[p].command == "java"}
    client = {p for p in descendants(children, [client_pid]) if p in table} if client_pid else set()
    groups = {"server_jvm_mib": jvms, "server_python_workers_mib": server - jvms, "client_python_mib": client}
    return {key: sum(pss_bytes(p) for p in pids) / 2**20 for key, pids in groups.items()}


class MemorySampler(threading.Thread):
    """Peaks of ``sample`` (by default :func:`memory_sample`; its keys are ``groups``), polled every
    ``interval`` seconds in a daemon thread; with ``keep_series`` also every sample, with its time
    (``time.time()``), so that a caller can find the peaks within given time windows (stages)."""

    def __init__(self, interval: float = 0.5, sample: Callable[[], dict[str, float]] = memory_sample,
                 groups: tuple[str, ...] = MEMORY_GROUPS, keep_series: bool = False):
        super().__init__(daemon=True)
        self.interval, self._lock, self._halt = interval, threading.Lock(), threading.Event()
        self._sample, self._keep_series = sample, keep_series
        self._peaks = dict.fromkeys(groups, 0.0)
        self._series: list[tuple[float, dict[str, float]]] = []

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            sample = self._sample()
            with self._lock:
                for key, value in sample.items():
                    self._peaks[key] = max(self._peaks.get(key, 0.0), value)
                if self._keep_series:
                    self._series.append((time.time(), sample))

    def take(self) -> dict[str, float]:
        """The peaks since the last call (MiB), then start again."""
        return self.take_with_series()[0]

    def take_with_series(self) -> tuple[dict[str, float], list[tuple[float, dict[str, float]]]]:
        """The peaks since the last call (MiB) and the samples (``(time, sample)``, empty without
        ``keep_series``) they are the peaks of, then start again."""
        with self._lock:
            peaks, self._peaks = self._peaks, dict.fromkeys(self._peaks, 0.0)
            series, self._series = self._series, []
        return {k: round(v, 1) for k, v in peaks.items()}, series

    def stop(self) -> None:
        self._halt.set()


def java_processes(root: int) -> list[int]:
    """The ``java`` processes among ``root`` and its descendants (the classic driver's JVM, a Connect server's)."""
    table = process_table()
    return [p for p in descendants(children_by_parent(table), [root]) if p in table and table[p].command == "java"]


class FullGcProbe(threading.Thread):
    """Every ``interval`` seconds a full garbage collection in each JVM ``jvms()`` names (``jcmd PID GC.run``),
    in a daemon thread.

    After a full collection only live objects remain, so the heap it leaves (``Pause Full`` in the JVM's GC
    log, :func:`heap_after_gc` with ``full_only``) is the heap the JVM needs at that moment; after a young
    pause the old generation's garbage is counted too, up to wherever the collector's threshold lets it grow.
    Each collection pauses the JVM for a fraction of a second: a run measured meanwhile is up to a half slower.
    """

    def __init__(self, jvms: Callable[[], list[int]], interval: float = 5.0):
        super().__init__(daemon=True)
        self.interval, self._jvms, self._halt = interval, jvms, threading.Event()
        self._jcmd = shutil.which("jcmd") or os.path.join(os.environ.get("JAVA_HOME", "/usr"), "bin", "jcmd")

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            for pid in self._jvms():
                # a JVM that is starting or exiting does not answer: the next round asks again
                subprocess.run([self._jcmd, str(pid), "GC.run"], capture_output=True, timeout=60, check=False)

    def stop(self) -> None:
        self._halt.set()
        self.join(70)


# one line of the JVM's unified GC log (-Xlog:gc:file=...:time) for a pause that reports heap sizes:
# "[2026-12-07T21:30:00.123+0000] GC(12) Pause Young (Normal) (G1 Evacuation Pause) 812M->140M(1024M) 9.1ms"
_GC_PAUSE = re.compile(r"^\[(?P<time>[^\]]+)\].*GC\(\d+\) Pause (?P<kind>\w+)"
                       r".*?\d+[KMG]->(?P<after>\d+)(?P<unit>[KMG])\(\d+[KMG]\)")
_MIB = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}


def heap_after_gc(gc_log: str, full_only: bool = False) -> list[tuple[float, float]]:
    """(epoch seconds, MiB) of the heap right after each GC pause in a JVM's GC log: the live objects
    plus what the collector left (after a young pause, the old generation's garbage too). With
    ``full_only``, after full collections only (:class:`FullGcProbe`): the live heap. Empty when the
    log does not exist."""
    try:
        with open(gc_log, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return []
    series = []
    for line in lines:
        match = _GC_PAUSE.match(line)
        if match and (match["kind"] == "Full" or not full_only):
            moment = datetime.strptime(match["time"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            series.append((moment, int(match["after"]) * _MIB[match["unit"]]))
    return series
