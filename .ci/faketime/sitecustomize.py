"""For the CI's shifted-clock pass only (never the product): libfaketime 0.9.10 with
FAKETIME_DONT_FAKE_MONOTONIC=1 makes time.sleep() fail with EINVAL on Python 3.11
(libfaketime issues #390, #426). Sleep through select() instead, which it leaves alone."""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
