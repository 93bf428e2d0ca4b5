"""The C allocator's settings for processes that pass image-sized buffers around."""

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

# mallopt's parameter numbers, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Every upload passes through several buffers of a few hundred KiB: the request body, the spooled
# form file, the bytes read from it, the pickled hand-off to a decode worker and its unpickled
# copy. By default glibc maps such buffers afresh or hands freed heap tops back to the kernel soon
# after, so each new buffer is faulted in and zeroed page by page: with perf under
# bench/ingest.py's batch scenario, page faults, munmap and mremap were about a fifth of the
# server's CPU. Serving anything under MMAP_THRESHOLD from the heap and keeping up to
# TRIM_THRESHOLD of free heap lets the next buffer reuse pages already mapped (batch uploads went
# from 1.27-1.54x to 1.90-1.94x the plain loop in interleaved runs; bench/README.md).
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit machines
TRIM_THRESHOLD = 64 << 20


def keep_freed_memory() -> bool:
    """Tunes glibc's malloc in this process as above; False, changing nothing, elsewhere."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 when it took the value, 0 when it refused it.
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    done = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and done
    if not done:
        log.warning("glibc refused the allocator settings; uploads will cost more CPU")
    return done
