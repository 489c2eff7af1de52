"""The wizard's mapping fix (m): the mappings the tenant cannot honour, asked of Xero when the
key is pressed, so a mapping can be fixed before any uninstall as well as after a reconnect;
each fixed from the tenant's valid codes, and an empty choice says why and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from store.checks import mapping_problems_and_chart
from store.mapping_edits import set_mapping
from store.models import to_json
from store.xero.models import Account, TaxRate
from tui.screens.base import store_work
from tui.screens.lifecycle import LifecycleScreen
from tui.widgets.modals import ChooseCode

if TYPE_CHECKING:
    import sqlite_utils


class MappingFix(LifecycleScreen):
    """The `m` key of the wizard: fix the first failing mapping, then the next."""

    actor: str

    @dataclass
    class ChartLoaded(Message, bubble=False):
        """The failing mappings and the tenant's valid codes."""

        problems: list[dict[str, Any]]
        accounts: list[Account]
        rates: list[TaxRate]

    def act(self, label: str, fn: Any) -> None:  # the wizard's
        raise NotImplementedError

    def mappings_fixed(self, left: list[dict[str, Any]]) -> None:
        """After a save: the failing mappings left (the wizard updates what it shows)."""

    def action_fix_mapping(self) -> None:
        self.load_chart()

    def load_chart(self) -> None:
        self._load_chart()

    @store_work(group="ask")
    def _load_chart(self) -> ChartLoaded:
        with self.store() as db:
            problems, accounts, rates = mapping_problems_and_chart(db, self.code)
            return self.ChartLoaded([to_json(p) for p in problems], accounts, rates)

    def on_mapping_fix_chart_loaded(self, message: ChartLoaded) -> None:
        if not message.problems:
            self.notify(
                "Every account and tax mapping exists in Xero and fits its use.", markup=False
            )
            return
        problem = message.problems[0]

        def answered(code: str | None) -> None:
            if not code:
                return

            def save(db: sqlite_utils.Database) -> str:
                change = set_mapping(
                    db, self.code, problem["kind"], problem["local"], code, actor=self.actor
                )
                left = len(message.problems) - 1
                return f"{change.kind} {change.local} -> {change.after}" + (
                    f"; {left} more to fix (press m)." if left else "; no more to fix."
                )

            self.act("Saving the mapping", save)
            self.mappings_fixed(message.problems[1:])

        self.app.push_screen(
            ChooseCode.for_problem(
                problem["kind"],
                problem["local"],
                problem["remote"],
                problem["problem"],
                problem["suggestions"],
                message.accounts,
                message.rates,
            ),
            answered,
        )
