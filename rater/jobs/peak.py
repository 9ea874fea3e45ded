"""A job's peak memory, as it reports it on its last line."""

from __future__ import annotations

import resource


def peak_kib() -> int:
    """This process's peak resident memory, KiB.

    Linux's VmHWM, which starts afresh at exec. `ru_maxrss` does not: it keeps the peak
    of the process image that exec replaced, so a job started by a large process (`rater
    bench simulate` holds a million records) reported that process's memory as its own,
    about 560 MiB too much. `ru_maxrss` where there is no /proc."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
