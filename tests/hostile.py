"""Decoders that misbehave on cue, for the decode workers to run in place of the real ones: a
file that is exactly a cue hangs, crashes or runs away with memory; any other file is decoded."""

import os
import resource
import signal
import time

from service.decoding import Fingerprinted, fingerprint_asset_image, fingerprint_found_image
from service.detection.decode import ImageLimits

HANG = b"hostile:hang"
SEGFAULT = b"hostile:segfault"
ABORT = b"hostile:abort"
EXIT = b"hostile:exit"
HOG = b"hostile:hog"
CRASHES = {"segfault": SEGFAULT, "abort": ABORT, "exit": EXIT}


def found_image(data: bytes, limits: ImageLimits) -> Fingerprinted:
    _misbehave(data)
    return fingerprint_found_image(data, limits)


def asset_image(data: bytes, limits: ImageLimits) -> Fingerprinted:
    _misbehave(data)
    return fingerprint_asset_image(data, limits)


def _misbehave(data: bytes) -> None:
    if data == HANG:
        time.sleep(600)
    elif data == SEGFAULT:
        os.kill(os.getpid(), signal.SIGSEGV)
    elif data == ABORT:
        os.abort()
    elif data == EXIT:
        os._exit(3)
    elif data == HOG:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            # Without a cap this would take the test machine's memory; fail the test instead.
            raise RuntimeError("this decode worker has no memory limit")
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))
