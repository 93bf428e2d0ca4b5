"""The blob store: evidence files named by content, and the incoming files uploads arrive in."""

import contextlib
import hashlib
import os
import time
from pathlib import Path

import pytest

from service.detection.decode import ImageLimits, read
from service.errors import ImageRejected
from storage.blobs import STALE_INCOMING_SECONDS, BlobStore


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_writes_bytes_under_their_sha256(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    path = store.put(sha(b"evidence"), b"evidence")
    assert path == tmp_path / sha(b"evidence")[:2] / sha(b"evidence")[2:4] / sha(b"evidence")
    assert store.get(sha(b"evidence")) == b"evidence"


def test_a_new_blob_folder_is_synced_into_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr("storage.blobs._fsync_folder", synced.append)
    store = BlobStore(tmp_path / "blobs")
    digest = sha(b"evidence")

    path = store.put(digest, b"evidence")

    # Each folder made (the store's, its two levels) in its parent; then the new name's folder.
    assert synced == [tmp_path, tmp_path / "blobs", path.parent.parent, path.parent]
    synced.clear()
    # Bytes whose digest shares the first level: only its new second level is synced in.
    more = next(
        d
        for n in range(10_000)
        if (h := sha(d := b"%d" % n))[:2] == digest[:2] and h[2:4] != digest[2:4]
    )
    store.put(sha(more), more)
    assert synced == [path.parent.parent, store.path_for(sha(more)).parent]


def test_a_kept_incoming_file_outlives_its_incoming_name(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with store.receive() as incoming:
        incoming.write(b"found image")
        incoming.flush()
        store.put(sha(b"found image"), Path(incoming.name))
        assert Path(incoming.name).is_relative_to(store.incoming)
    assert store.get(sha(b"found image")) == b"found image"
    assert not [p for p in store.incoming.rglob("*") if p.is_file()]


def test_an_incoming_file_with_bytes_stored_already_leaves_the_stored_file_alone(
    tmp_path: Path,
) -> None:
    store = BlobStore(tmp_path)
    first = store.put(sha(b"same"), b"same")
    with store.receive() as incoming:
        incoming.write(b"same")
        incoming.flush()
        assert store.put(sha(b"same"), Path(incoming.name)) == first
        assert first.stat().st_nlink == 1
    assert store.get(sha(b"same")) == b"same"


def test_sweep_deletes_stale_incoming_files_and_spares_fresh_ones(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    stale, fresh = store.receive(), store.receive()
    # A killed process never closes its files: stand in for that by keeping these open.
    long_ago = time.time() - STALE_INCOMING_SECONDS - 60
    os.utime(stale.name, (long_ago, long_ago))

    assert store.sweep_incoming() == 1
    assert not Path(stale.name).exists() and Path(fresh.name).exists()
    fresh.close()
    with contextlib.suppress(FileNotFoundError):  # its delete-on-close finds it gone
        stale.close()


def test_an_incoming_file_over_the_byte_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with store.receive() as incoming:
        incoming.write(b"\xff" * 1001)
        incoming.flush()
        with pytest.raises(ImageRejected) as refused:
            read(Path(incoming.name), ImageLimits(max_bytes=1000, max_pixels=100))
    assert refused.value.reason == "too_large"
    assert "1001 bytes" in refused.value.detail
