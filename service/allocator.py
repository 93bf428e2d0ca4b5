"""glibc's malloc settings: the call that sets them, and the decode workers' own."""

import ctypes
import functools
import logging
import platform
from collections.abc import Callable

log = logging.getLogger(__name__)

# mallopt's parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# A decode worker reads every upload into a buffer of a few hundred KiB, and decodes it. Under
# `leaksentinel serve`'s settings for the request processes (cli/main.py: blocks over 128 KiB
# mapped apart) each such buffer was mapped afresh, faulted in and zeroed page by page, and
# unmapped again: about 6% of the machine under bench/ingest.py's batch
# uploads (perf). Serving blocks up to MMAP_THRESHOLD from the heap and keeping up to
# TRIM_THRESHOLD free at its top lets the next upload reuse those pages, whatever the size of the
# file. A worker runs one decode at a time on one thread, so what it frees coalesces and its heap
# stays bounded; the request processes, with many threads and requests at once, grew steadily
# under bench/load.py with the same settings (bench/README.md, "Memory").
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit machines
TRIM_THRESHOLD = 16 << 20


def mallopt(option: int, value: int) -> bool:
    """Sets a malloc option in this process; False if glibc refused it or is not the C library."""
    call = _mallopt()
    return call is not None and bool(call(option, value))


def keep_freed_memory() -> bool:
    """Tunes this process's malloc as above (a decode worker's); False if it could not."""
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    done = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) and done
    if not done and _mallopt() is not None:
        log.warning("glibc refused the allocator settings; uploads will cost more CPU")
    return done


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    if platform.libc_ver()[0] != "glibc":
        return None  # other C libraries have no such call, or numbers of their own
    try:
        call = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int)
    call.restype = ctypes.c_int
    result: Callable[[int, int], int] = call
    return result
