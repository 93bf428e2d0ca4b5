"""Decoding and fingerprinting untrusted image bytes in worker processes, each decode under a time
limit and each worker under a memory limit, so a hostile file costs one request, not the service."""

import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from service import allocator, thumbnails
from service.detection import hashes
from service.detection.decode import (
    OUT_OF_MEMORY_DETAIL,
    DecodedImage,
    ImageData,
    ImageLimits,
    decode,
)
from service.detection.decode import read as read_image
from service.detection.features import LocalFeatures
from service.detection.hashes import Fingerprint, SightingPrints
from service.errors import ImageRejected
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# The exit status of a worker that ran out of its address space: it leaves rather than carry on
# with a C decoder's state that a failed allocation may have left half-built.
OUT_OF_MEMORY_EXIT = 86
# At most this many files of a batch go to a worker as one task. Pebble's traffic per task (the
# task through one pipe, the result back through another, a lock and a wake-up each way) took
# 15-18% of a worker's time at one file per task under batch uploads (py-spy).
FILES_PER_TASK = 8


@dataclass(frozen=True)
class Fingerprinted:
    """What a worker sends back about one image: its facts and fingerprints, never its pixels."""

    sha256: str
    media_type: str
    byte_size: int
    width: int
    height: int
    prints: tuple[Fingerprint, ...]
    low_information: str | None = None
    # An asset's review thumbnail; None for a found image.
    thumbnail: thumbnails.Thumbnail | None = None
    # A found image's local features (an asset's travel in `prints`).
    local: LocalFeatures | None = None

    @property
    def sighting_prints(self) -> SightingPrints:
        return SightingPrints(self.prints, self.low_information, self.local)


# What a worker runs on one file: module-level, so it can be named to another process.
DecodeJob = Callable[[bytes, ImageLimits], Fingerprinted]


def fingerprint_found_image(data: bytes, limits: ImageLimits) -> Fingerprinted:
    """A found image as a sighting is searched with."""
    image = decode(data, limits)
    prints = hashes.fingerprint_sighting(image.pixels, image.width, image.height)
    return _fingerprinted(image, prints.fingerprints, prints.low_information, local=prints.local)


def fingerprint_asset_image(data: bytes, limits: ImageLimits) -> Fingerprinted:
    """An asset's image: every variant registered for it, and its review thumbnail (a second,
    colour decode at thumbnail scale: the fingerprints' decode is grey and too small to review by
    eye). No thumbnail when there are no prints, as such an image is refused."""
    image = decode(data, limits)
    prints = tuple(hashes.fingerprint_asset(image.pixels))
    thumbnail = thumbnails.make_thumbnail(data, limits) if prints else None
    return _fingerprinted(image, prints, thumbnail=thumbnail)


def _fingerprinted(
    image: DecodedImage,
    prints: tuple[Fingerprint, ...],
    low_information: str | None = None,
    thumbnail: thumbnails.Thumbnail | None = None,
    local: LocalFeatures | None = None,
) -> Fingerprinted:
    return Fingerprinted(
        image.sha256,
        image.media_type,
        image.byte_size,
        image.width,
        image.height,
        prints,
        low_information,
        thumbnail,
        local,
    )


def _run_in_worker(job: DecodeJob, data: ImageData, limits: ImageLimits) -> Fingerprinted:
    try:
        return job(read_image(data, limits), limits)
    except MemoryError:
        os._exit(OUT_OF_MEMORY_EXIT)
    except ImageRejected as exc:
        if exc.reason == "decode_memory":
            os._exit(OUT_OF_MEMORY_EXIT)
        raise


def _run_group_in_worker(
    job: DecodeJob, files: Sequence[ImageData], limits: ImageLimits, timeout_seconds: float
) -> list[Fingerprinted | ImageRejected]:
    """Several files, each under its own time limit: the alarm's default action ends this worker
    at once, even in a decoder stuck in C. A worker that ends fails the whole group, and the
    parent then decodes each of its files alone to find the one at fault."""
    outcomes: list[Fingerprinted | ImageRejected] = []
    for data in files:
        signal.setitimer(signal.ITIMER_REAL, timeout_seconds)
        try:
            outcomes.append(_run_in_worker(job, data, limits))
        except ImageRejected as exc:
            outcomes.append(exc)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return outcomes


def _prepare_worker(extra_bytes: int) -> None:
    """Runs first in every worker: caps its address space at what it maps now, libraries and
    all, plus what one decode may add, so a runaway allocation fails in this process alone."""
    allocator.keep_freed_memory()
    with open("/proc/self/status") as status:
        mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    limit = mapped + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A worker that crashes leaves no core file: its memory held the pixels of confidential assets.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Pebble stops an overrunning worker with SIGTERM and handles it in Python, which a decoder
    # stuck in C never returns to; the default action ends the process at once instead of after
    # pebble's three-second wait before SIGKILL, during which it tends no other worker.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _context() -> multiprocessing.context.ForkServerContext:
    # Not "fork": the serving process has threads and database connections that a forked child
    # would inherit mid-use. The fork server is a fresh interpreter that imports the decoders
    # once; each worker is forked from it, so a replacement starts in milliseconds. As with
    # "spawn", a worker imports the parent's __main__, so a script that decodes through this pool
    # keeps its work under `if __name__ == "__main__":`.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class DecodePool:
    """A bounded pool of decode workers. A decode that overruns its time is killed with its
    worker; a worker that dies (a signal, an exit, its memory cap) is replaced; either way only
    that file is refused, with ImageRejected, and files on other workers are unaffected."""

    def __init__(self, workers: int, timeout_seconds: float, memory_mb: int) -> None:
        self.workers = workers
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        # What the workers run for a found image and for an asset's image; tests put their own
        # misbehaving decoders here.
        self.found_image_job: DecodeJob = fingerprint_found_image
        self.asset_job: DecodeJob = fingerprint_asset_image
        self._lock = threading.Lock()
        self._pool: ProcessPool | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "DecodePool":
        return cls(
            settings.fingerprint_workers or os.cpu_count() or 1,
            settings.decode_timeout_seconds,
            settings.decode_memory_mb,
        )

    def fingerprint_found_images(
        self, files: Sequence[ImageData], limits: ImageLimits
    ) -> list[Fingerprinted | ImageRejected]:
        """Every file at once, in groups spread over every worker; each file's refusal is its own
        outcome."""
        size = max(1, min(FILES_PER_TASK, -(-len(files) // self.workers)))
        groups = [files[i : i + size] for i in range(0, len(files), size)]
        futures = [self._submit_group(self.found_image_job, group, limits) for group in groups]
        outcomes: list[Fingerprinted | ImageRejected] = []
        for group, future in zip(groups, futures, strict=True):
            try:
                outcomes += future.result()
            except Exception:
                # A worker that ended (its alarm, a crash, its memory cap) or a decoder bug:
                # decoded alone, each file gets its own outcome and the guilty one its reason.
                outcomes += self._each_alone(self.found_image_job, group, limits)
        return outcomes

    def _each_alone(
        self, job: DecodeJob, files: Sequence[ImageData], limits: ImageLimits
    ) -> list[Fingerprinted | ImageRejected]:
        futures = [self._submit(job, data, limits) for data in files]
        outcomes: list[Fingerprinted | ImageRejected] = []
        for future in futures:
            try:
                outcomes.append(self._result(future))
            except ImageRejected as exc:
                outcomes.append(exc)
        return outcomes

    def fingerprint_found_image(self, data: ImageData, limits: ImageLimits) -> Fingerprinted:
        return self._result(self._submit(self.found_image_job, data, limits))

    def fingerprint_asset_image(self, data: bytes, limits: ImageLimits) -> Fingerprinted:
        return self._result(self._submit(self.asset_job, data, limits))

    def close(self) -> None:
        """Stops the workers, abandoning any decode still queued or running."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            _stop(pool)

    def _submit(
        self, job: DecodeJob, data: ImageData, limits: ImageLimits
    ) -> Future[Fingerprinted]:
        return self._schedule(_run_in_worker, (job, data, limits), self.timeout_seconds)

    def _submit_group(
        self, job: DecodeJob, files: Sequence[ImageData], limits: ImageLimits
    ) -> Future[list[Fingerprinted | ImageRejected]]:
        # Pebble's own limit only backs up the workers' alarms, a second after the last would ring.
        timeout = self.timeout_seconds * len(files) + 1
        return self._schedule(
            _run_group_in_worker, (job, list(files), limits, self.timeout_seconds), timeout
        )

    def _schedule(
        self, function: Callable[..., T], args: tuple[Any, ...], timeout: float
    ) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the decode pool is closed")
            if self._pool is not None and not self._pool.active:
                # Pebble gives up on the whole pool when a worker dies while it believes none is
                # busy (one killed while idle, or a crash it sees before the task's start); the
                # next decode gets a new pool rather than that error.
                log.warning("the decode pool broke; starting a new one")
                _stop(self._pool)
                self._pool = None
            if self._pool is None:
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    initializer=_prepare_worker,
                    initargs=(self.memory_mb * 1024 * 1024,),
                    context=_context(),
                )
            return self._pool.schedule(function, args=args, timeout=timeout)

    def _result(self, future: Future[Fingerprinted]) -> Fingerprinted:
        try:
            return future.result()
        except ImageRejected:
            raise
        except TimeoutError as exc:
            raise ImageRejected(
                "decode_timeout",
                f"decoding the image took longer than {self.timeout_seconds:g} seconds; "
                "it was stopped",
            ) from exc
        except ProcessExpired as exc:
            if exc.exitcode == OUT_OF_MEMORY_EXIT:
                raise ImageRejected("decode_memory", OUT_OF_MEMORY_DETAIL) from exc
            log.warning("a decode worker died (exit status %s); it was replaced", exc.exitcode)
            raise ImageRejected(
                "decoder_crashed", "the image decoder stopped abnormally on this file"
            ) from exc
        except BrokenProcessPool as exc:
            log.warning("the decode pool broke under this file", exc_info=True)
            raise ImageRejected(
                "decoder_crashed", "the image decoder stopped abnormally on this file"
            ) from exc
        except Exception as exc:
            # A decoder bug on one hostile file is that file's refusal, not a server error.
            log.exception("unexpected error while decoding an image")
            raise ImageRejected("undecodable", "the file could not be processed") from exc


def _stop(pool: ProcessPool) -> None:
    pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves this one unannotated
    pool.join()
