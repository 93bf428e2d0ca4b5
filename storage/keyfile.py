"""Secrets kept in the data folder when settings give none: made once, read by every process."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def kept_secret(data_dir: Path, name: str, make: Callable[[], str]) -> bytes:
    """The secret in `data_dir / name`, made by `make` on first use. Every worker process of one
    host reads the same file, and restarts find it again. Created aside (0600, in a folder made
    0700) and hard-linked into place: of two processes starting at once, one wins and both read
    its secret, never a half-written file."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{name}-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink(missing_ok=True)
    return path.read_bytes().strip()
