"""How much memory this process may use: the smaller of the memory the system has
available and the limit of the process's memory cgroup (v1 or v2), which also counts the
page cache. A join whose vectors exceed its budget takes the blocked plan, whose reads stay
sequential; without a budget from the user, the budget is half of this."""

from __future__ import annotations

from pathlib import Path

_UNLIMITED = 1 << 62


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _UNLIMITED


def _cgroup_limit() -> int:
    """The memory limit of this process's cgroup, or unlimited when there is none."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return _UNLIMITED
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.lstrip("/")
        if "memory" in controllers.split(","):
            limits.append(Path("/sys/fs/cgroup/memory", rel, "memory.limit_in_bytes"))
        elif controllers == "":
            limits.append(Path("/sys/fs/cgroup", rel, "memory.max"))
    found = _UNLIMITED
    for file in limits:
        try:
            text = file.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            found = min(found, int(text))
    return found


def available() -> int:
    """Bytes this process may use, page cache included (never below 64 MiB)."""
    return max(64 << 20, min(_meminfo_available(), _cgroup_limit()))


def default_join_budget() -> int:
    """The memory budget of a join when the caller gives none: half of :func:`available`."""
    return available() // 2
