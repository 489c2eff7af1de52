"""LifecycleScreen: what the organisation screen and the wizard ask the store before the two
lifecycle dialogs: the uninstall plan (for the typed confirmation) and the Xero organisations
a reconnect may choose (authorising first: against the real Xero, a person's consent in
ConsentDialog). Each screen answers the messages its own way."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from store.errors import ConsentRefused
from store.models import ReconnectOptions, UninstallPlan
from store.reconnect import needs_consent, reconnect_options, start_consent
from store.transitions import uninstall_plan
from store.xero.consent import ConsentLink
from tui.screens.base import StoreScreen, store_work
from tui.widgets.consent import ConsentDialog


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

    @dataclass
    class ConsentNeeded(Message, bubble=False):
        """The real Xero needs a person's consent first, for ConsentDialog."""

        link: ConsentLink

    @store_work(group="ask", exclusive=False)
    def offer_tenants(self, redirect_url: str | None = None) -> TenantsOffered | ConsentNeeded:
        with self.store() as db:
            if redirect_url is None and needs_consent(db, self.code):
                return self.ConsentNeeded(start_consent(db, self.code))
            return self.TenantsOffered(reconnect_options(db, self.code, redirect_url=redirect_url))

    def on_lifecycle_screen_consent_needed(self, message: LifecycleScreen.ConsentNeeded) -> None:
        def answered(address: str | None) -> None:
            if address:
                self.offer_tenants(address)
            else:
                self.failed(ConsentRefused("Reconnect cancelled: no consent was given."))

        self.app.push_screen(ConsentDialog(message.link), answered)
