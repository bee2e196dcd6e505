"""The cooking commands give large freed blocks back to the system (cli.memory)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

PROGRAM = """
import gc, sys
from pdgstore.cli.memory import return_large_blocks

def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

if sys.argv[1] == "set":
    assert return_large_blocks()
gc.collect()
before = rss_kb()
for size in (8, 24, 16, 24):  # a block freed raises glibc's threshold to its size, unless it was set
    block = b"x" * (size << 20)  # its pages touched
    del block
print(rss_kb() - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"),
    reason="glibc's malloc only",
)
def test_a_freed_block_of_megabytes_goes_back_to_the_system():
    grown_kb = int(subprocess.run([sys.executable, "-c", PROGRAM, "set"], capture_output=True, text=True,
                                  check=True, timeout=30).stdout)
    assert grown_kb < 4 << 10  # not the 24 MB block kept in the heap
