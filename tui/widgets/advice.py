"""The console names its own keys: a store message that tells the person to run a command
(the command line's words, shared with the CLI) is said in the console as the key that does it.

Store messages name a next action as a command in backticks (`syncdesk retry KAURI`,
`syncdesk map KAURI KIND LOCAL CODE`) or as a flag (--accept-new-tenant). The CLI prints them
as they are; the console passes every such text through `console_words`, which turns each
command the console can perform into its key: "press t (Retry)" on the screen that has the
key, "t (Retry) on the organisation screen" elsewhere. Commands the console has no key for
(`syncdesk snapshots`, `syncdesk orgs`) are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# command verb -> (key, what the key says, the screen it is on)
KEYS: dict[str, tuple[str, str, str]] = {
    "retry": ("t", "Retry", "organisation"),
    "map": ("m", "Fix map", "organisation"),
    "check": ("k", "Check", "organisation"),
    "deactivate": ("d", "Deactivate", "organisation"),
    "activate": ("a", "Activate", "organisation"),
    "uninstall": ("u", "Uninstall", "organisation"),
    "reconnect": ("c", "Reconnect", "organisation"),
    "run start": ("r", "Refresh run", "organisation"),
    "run show": ("r", "Refresh run", "organisation"),
    "run next": ("enter", "Do step", "refresh run"),
    "run override": ("f", "Refresh anyway", "refresh run"),
    "run escalate": ("e", "Escalate", "refresh run"),
    "run resolve": ("v", "Resolved", "refresh run"),
    "run note": ("n", "Note", "refresh run"),
    "log": ("l", "Log", "organisation"),
    "errors": ("s", "Groups", "log"),
}
FLAGS: dict[str, str] = {
    "--accept-new-tenant": "the “different Xero organisation” tick in the Reconnect dialog",
    "--take-over": "the o key (Take over) in the refresh run",
    "--no-restore": "the restore box in the Reconnect dialog",
}
# A command, and the CLI's aside naming the console's key ("(m in the console)"), which the
# console drops once it has named the key itself. A command in brackets ("retry the exports
# (`syncdesk retry K`)") is said "with the t key (Retry)", not in brackets within brackets.
_COMMAND = re.compile(
    r"(?P<open> \()?`syncdesk (run [a-z]+|[a-z-]+)\b[^`]*`"
    r"(?P<aside> \([^()]*in the console\)|,? or [a-z] in the console)?"
    r"(?(open)\))"
)
_FLAG = re.compile(r"`?(--[a-z-]+)\b[^`;,.)]*`?")


def console_words(
    text: str, screen: str | None = None, here: Mapping[str, str] | None = None
) -> str:
    """`text` with each command the console can do said as its key.

    `screen` is where the text is shown ("organisation", "refresh run", "log"): its own keys
    are named without saying where. `here` maps a command verb to how that screen says it
    when it does the work differently ("the enter key (Do step)" for `run start` in a run).
    """
    here = here or {}

    def command(match: re.Match[str]) -> str:
        verb = match.group(2)
        if verb in here:
            said = here[verb]
        elif verb in KEYS:
            key, label, place = KEYS[verb]
            said = key_words(key, label)
            said = said if place == screen else f"{said} on the {place} screen"
        else:
            return match.group(0)
        return f" with {said}" if match.group("open") else said

    def flag(match: re.Match[str]) -> str:
        name = match.group(1)
        return here.get(name) or FLAGS.get(name, match.group(0))

    return _FLAG.sub(flag, _COMMAND.sub(command, text))


def key_words(key: str, label: str) -> str:
    """How a message names one of the current screen's keys: 'the m key (Fix map)'."""
    return f"the {key} key ({label})"
