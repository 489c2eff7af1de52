"""Long work that says how far it has got and can be stopped between items.

A store function doing long work (retry and the verify step, which send documents one by one;
the live check, which asks Xero several things in turn) takes two optional callables, both
called on the thread doing the work:

    progress(done, total, doing)  before each item: how many are done, of how many, and what is
                                  being done now ("sending INV-0042"); once more at the end with
                                  doing "" (the command line prints the counts, the console its
                                  one progress display)
    cancelled()                   asked between items: True stops the work there, and the result
                                  says what was done and what was not

The command line passes a counter (tui/cli_base.py); the console a WorkProgress display
(tui/widgets/progress.py) whose `escape` sets the flag `cancelled` reads.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]
Cancelled = Callable[[], bool]
