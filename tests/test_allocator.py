"""The malloc options `leaksentinel serve` gives its processes: upload-sized buffers reuse memory
the process already has instead of having their pages faulted in afresh each time."""

import os
import platform
import subprocess
import sys

import pytest

from cli.main import MALLOC_OPTIONS

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the options are glibc's")

# In a fresh interpreter: builds and drops buffers the way an upload does (parts joined into a
# body, the body copied out of a spool), then prints the page faults 50 more rounds took.
PROBE = """
import os, resource

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


def _page_faults(options: dict[str, str]) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | options
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True
    ).stdout
    return int(out)


def test_upload_sized_buffers_reuse_pages_under_the_serving_options() -> None:
    options = {name: str(value) for name, _, value in MALLOC_OPTIONS}
    # 50 rounds touch about 30,000 pages' worth of buffers; reused, almost none fault.
    assert _page_faults(options) < 2_000


def test_under_glibc_defaults_each_buffer_faults_its_pages_afresh() -> None:
    # The control: the probe does tell the two apart on this C library.
    assert _page_faults({}) > 10_000
