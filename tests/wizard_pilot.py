"""Driving the refresh-run wizard in pilot tests: open it, perform a step (or start a run and
diagnose), confirm an uninstall."""

from __future__ import annotations

from pathlib import Path

from support import settle

from tui.screens.wizard import WizardScreen
from tui.widgets.modals import ConfirmTyped


async def open_wizard(pilot, store_path: Path, code: str, actor: str = "tester") -> None:
    await settle(pilot)
    pilot.app.push_screen(WizardScreen(store_path, code, actor=actor))
    await settle(pilot)


async def perform(pilot) -> None:
    await pilot.press("enter")
    await settle(pilot)


async def open_and_diagnose(pilot, store_path: Path, code: str) -> None:
    """Open the wizard on code, start a run and perform its diagnosis."""
    await open_wizard(pilot, store_path, code)
    await perform(pilot)  # start
    await perform(pilot)  # diagnose


async def confirm_uninstall(pilot, code: str) -> None:
    await perform(pilot)
    assert isinstance(pilot.app.screen, ConfirmTyped)
    await pilot.press(*code, "enter")
    await settle(pilot)
