"""LifecycleScreen: what the organisation screen and the wizard ask the store before the two
lifecycle dialogs: the uninstall plan (for the typed confirmation) and the Xero organisations
a reconnect may choose (authorising first). Each screen answers the messages its own way."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from store.models import ReconnectOptions, UninstallPlan
from store.reconnect import reconnect_options
from store.transitions import uninstall_plan
from tui.screens.base import StoreScreen, store_work


class LifecycleScreen(StoreScreen):
    """A StoreScreen about one organisation (`code`) that can uninstall and reconnect it."""

    code: str

    @dataclass
    class UninstallPlanned(Message, bubble=False):
        """What an uninstall would remove and keep, for ConfirmTyped.uninstall."""

        plan: UninstallPlan

    @dataclass
    class TenantsOffered(Message, bubble=False):
        """The tenants the authorised user can reach, for ReconnectChoice.from_options."""

        options: ReconnectOptions

    @store_work(group="ask", exclusive=False)
    def plan_uninstall(self) -> UninstallPlanned:
        with self.store() as db:
            return self.UninstallPlanned(uninstall_plan(db, self.code))

    @store_work(group="ask", exclusive=False)
    def offer_tenants(self) -> TenantsOffered:
        with self.store() as db:
            return self.TenantsOffered(reconnect_options(db, self.code))
