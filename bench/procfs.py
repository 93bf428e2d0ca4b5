"""The machine and a server's process group as /proc shows them: CPU model, CPU time, memory."""

import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The machine is shared, so the reader needs to see how much of it the server, the client and
# everyone else used during each measurement.


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot, all cores together."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def _group_stats(pgid: int) -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command) of every live process of one
    process group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(rest[2]) == pgid:
            yield int(stat.parent.name), rest


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds used by every live process of one process group (the server and its workers),
    including children they have already reaped."""
    # utime stime cutime cstime
    total = sum(sum(int(v) for v in rest[11:15]) for _, rest in _group_stats(pgid))
    return total / TICK


@dataclass
class CpuSnapshot:
    wall: float
    client: float
    server: float
    machine: float

    @classmethod
    def take(cls, server_pgid: int) -> "CpuSnapshot":
        return cls(
            time.perf_counter(),
            time.process_time(),
            group_cpu_seconds(server_pgid),
            machine_busy_seconds(),
        )

    def cores_since(self, start: "CpuSnapshot") -> dict[str, float]:
        """Average cores busy between two snapshots: this process, the server, and everyone else
        (other engineers' processes, and time the hypervisor gave to other machines)."""
        wall = self.wall - start.wall
        client = (self.client - start.client) / wall
        server = (self.server - start.server) / wall
        machine = (self.machine - start.machine) / wall
        return {
            "client": client,
            "server": server,
            "other": max(0.0, machine - client - server),
            "machine": machine,
        }


def group_pids(pgid: int) -> list[int]:
    return [pid for pid, _ in _group_stats(pgid)]


RSS_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


def group_memory(pgid: int) -> dict[str, int]:
    """Resident bytes summed over the group: in all (VmRSS) and split into anonymous memory (the
    heap), file-backed and shared pages; and how many processes were counted."""
    totals = dict.fromkeys((*RSS_FIELDS, "processes"), 0)
    for pid in group_pids(pgid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name in RSS_FIELDS:
                totals[name] += int(value.split()[0]) * 1024
        totals["processes"] += 1
    return totals


def group_rss_bytes(pgid: int) -> tuple[int, int]:
    """(resident bytes summed over the group, processes counted)."""
    memory = group_memory(pgid)
    return memory["VmRSS"], memory["processes"]
