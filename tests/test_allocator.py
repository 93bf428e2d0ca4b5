"""The allocator settings that let image-sized buffers reuse memory the process already has."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the settings are glibc's mallopt"
)

# In a fresh interpreter: builds and drops buffers the way an upload does (parts joined into a
# body, the body copied out of a spool), then prints the page faults 50 more rounds took.
PROBE = """
import os, resource, sys
from service import allocator

if sys.argv[1] == "tuned":
    assert allocator.keep_freed_memory()

def uploads(count):
    for i in range(count):
        parts = [os.urandom(16) * (20_000 + 500 * (i % 7)) for _ in range(3)]
        body = b"".join(parts)
        copy = bytes(bytearray(body))
        del parts, body, copy

uploads(5)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
uploads(50)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True
    ).stdout
    return int(out)


def test_upload_sized_buffers_reuse_pages_the_process_has() -> None:
    # 50 rounds touch about 50,000 pages' worth of buffers; reused, almost none fault.
    assert _page_faults("tuned") < 2_000


def test_without_the_settings_each_buffer_faults_its_pages_afresh() -> None:
    # The control: the probe does tell the two apart on this C library.
    assert _page_faults("default") > 10_000
