"""Making text from outside (log messages, tenant names, Xero errors) safe to show.

The rule lives in the store layer (store/textsafe.py), so the command line, the packets and
the console escape alike; the console's modules import it from here.
"""

from __future__ import annotations

from store.textsafe import visible

__all__ = ["visible"]
