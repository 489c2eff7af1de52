"""For the CI's shifted-clock pass only (never the product).

1. libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 makes time.sleep() fail with EINVAL
   on Python 3.11 (libfaketime issues #390, #426). Sleep through select() instead, which it
   leaves alone.
2. libfaketime reads its settings with getenv() from whichever thread asks the time, while a
   test's monkeypatch.setenv() in the main thread may be reallocating the C environment: glibc's
   environment is not thread-safe, and the process dies of SIGSEGV (seen with the loopback Xero
   stub's serving thread polling while a fixture pointed the client at it). In this pass the C
   environment is therefore never changed after start: os.environ still carries every change
   (the code under test reads it from there), and child processes are given os.environ
   explicitly, as they would have inherited it.
"""

import os
import select
import subprocess
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep


def _keep_c_environment(*_args: object) -> None:
    """os.environ calls this instead of putenv()/unsetenv()."""


os.putenv = _keep_c_environment
os.unsetenv = _keep_c_environment

_popen_init = subprocess.Popen.__init__


def _popen_with_environ(self, args, *rest, env=None, **options):  # type: ignore[no-untyped-def]
    if env is None and len(rest) < 10:  # env is the tenth parameter after args
        env = dict(os.environ)
    _popen_init(self, args, *rest, env=env, **options)


subprocess.Popen.__init__ = _popen_with_environ  # type: ignore[method-assign]
