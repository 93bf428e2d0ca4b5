"""Content-addressed blob store in a folder: found images kept as evidence, named by SHA-256, and
the incoming files uploads are received into before their content is known."""

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, cast

# A file still incoming after this long was left by a process that was killed mid-request.
STALE_INCOMING_SECONDS = 3600


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / ".incoming"
        # Folders known to exist, so that a write costs no mkdir once the store is warm.
        self._folders: set[Path] = set()

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a lowercase hex SHA-256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes | Path) -> Path:
        """Writes durably (fsync, then an atomic rename or link) before the caller commits the
        record naming it.
        `data` may be an incoming file (`receive`) holding the bytes, which is linked into place
        rather than copied; it keeps its incoming name until its owner closes it."""
        path = self.path_for(sha256)
        if path.exists():
            return path
        self._folder(path.parent)
        if isinstance(data, Path):
            _fsync_file(data)
            # A concurrent request may have linked the same bytes first; its name is as good,
            # once its folder is synced below.
            with contextlib.suppress(FileExistsError):
                os.link(data, path)
        else:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        _fsync_folder(path.parent)
        return path

    def receive(self) -> BinaryIO:
        """A new incoming file for an upload's bytes, deleted when closed: `put` links it into
        place if it is kept. Its `name` is its path."""
        # Spread over 256 subfolders: creating all of a busy server's files in one folder funnels
        # them through one spot of the filesystem's inode allocation (ext4: 10% of a server's CPU).
        folder = self.incoming / os.urandom(1).hex()
        self._folder(folder)
        return cast(BinaryIO, tempfile.NamedTemporaryFile(dir=folder, prefix="upload-"))

    def sweep_incoming(self, older_than: float = STALE_INCOMING_SECONDS) -> int:
        """Deletes incoming files left by a killed process; returns how many. Files younger than
        `older_than` seconds are left, as another process may be receiving them."""
        cutoff = time.time() - older_than
        removed = 0
        for path in self.incoming.glob("*/upload-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # its request ended meanwhile
        return removed

    def get(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def _folder(self, folder: Path) -> None:
        if folder in self._folders:
            return
        missing = []
        for ancestor in (folder, *folder.parents):
            if ancestor.exists():
                break
            missing.append(ancestor)
        for made in reversed(missing):
            made.mkdir(mode=0o700, exist_ok=True)  # leaked pictures: the owner's only
            # A new folder's own entry is durable only once its parent is: without it, a blob
            # fsynced into it could be lost with the folder on a crash of a journal-less
            # filesystem. Synced whoever made it, since another process may not have yet.
            _fsync_folder(made.parent)
        self._folders.add(folder)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # The new name is durable only once its folder is.
    _fsync_file(folder)
