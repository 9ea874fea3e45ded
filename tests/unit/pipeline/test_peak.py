"""The peak memory a job reports is its own: started by a large process (as `rater
bench simulate`, holding a million records, starts `rater simulate`), it does not
report that process's memory."""

from __future__ import annotations

import subprocess
import sys

from rater.jobs.peak import peak_kib


def test_a_job_started_by_a_large_process_reports_its_own_peak() -> None:
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # resident
    assert peak_kib() > 300 * 1024
    out = subprocess.run(
        [sys.executable, "-c", "from rater.jobs.peak import peak_kib; print(peak_kib())"],
        check=True,
        capture_output=True,
        text=True,
    )
    del ballast
    child = int(out.stdout)
    assert 0 < child < 150 * 1024, f"the child reported {child} KiB"
