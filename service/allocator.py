"""The C allocator's settings for the decode workers, which take an image-sized buffer per upload."""

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

# mallopt's parameter numbers, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# A decode worker receives every upload as a pickled buffer of a few hundred KiB, unpickles a copy
# of it and decodes it. `leaksentinel serve` fixes glibc's mmap threshold at 128 KiB for its
# processes (cli/main.py, for the request processes' arenas), so each of those buffers was mapped
# afresh, faulted in and zeroed page by page, and unmapped again: about 6% of the machine under
# bench/ingest.py's batch uploads (perf). Serving blocks up to MMAP_THRESHOLD from the heap and
# keeping up to TRIM_THRESHOLD free at its top lets the next upload reuse those pages. A worker
# runs one decode at a time on one thread, so what it frees coalesces and its heap stays bounded;
# the request processes keep serve's settings, as the same change there made them grow steadily
# under bench/load.py (bench/README.md, "Memory").
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit machines
TRIM_THRESHOLD = 16 << 20


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
