"""The log browser in words: a row in full (the detail pane), the filter line with a clickable
key for each filter, and the words typed in the search box (org:CODE kind:NAME).

Outside text (messages, organisation codes, typed words) goes in as literal Content, never
into markup.
"""

from __future__ import annotations

from textual.content import Content

from store.logs import LogQuery
from store.models import KnowledgeEntry, LogEntry
from tui.safe import lines as lines_of
from tui.safe import visible
from tui.widgets.marked import marked_text

MUTED = "$text-muted"
KEY = "bold $accent"
LEVELS = ("all", "error", "info")


def parse_search(text: str) -> tuple[str | None, str | None, str | None]:
    """'org:kauri kind:timeout expired' -> ('kauri', 'timeout', 'expired')."""
    org = kind = None
    words = []
    for word in text.split():
        key, colon, value = word.partition(":")
        if colon and key.lower() == "org":
            org = value or org
        elif colon and key.lower() == "kind":
            kind = value or kind
        else:
            words.append(word)
    return org, kind, " ".join(words) or None


DETAIL_CHARS = 4000  # a longer message is cut in the detail pane; `w` shows the whole of it


def message_text(message: object, whole: bool) -> Content:
    """The message as lines, cut at DETAIL_CHARS unless `whole` (so a 1 MB message moves the
    cursor as fast as any other), saying how long it is and which key shows it all."""
    text = marked_text(message)
    if whole or len(text) <= DETAIL_CHARS:
        return Content(lines_of(text))
    return Content.assemble(
        lines_of(text[:DETAIL_CHARS]),
        (f"… ({len(text):,} characters in all; w shows the whole message)", "bold $warning"),
    )


def describe_entry(entry: LogEntry, kb: KnowledgeEntry | None, whole: bool = False) -> Content:
    """One log row in full, as literal text with the knowledge base's advice."""
    level_style = "bold $error" if entry.level == "error" else "bold $text-accent"
    t = marked_text
    lines = [
        Content.assemble(
            (visible(t(entry.at)), "bold"),
            "  ",
            (visible(t(entry.org)), "bold"),
            "  ",
            (visible(t(entry.level)).upper(), level_style),
            (f"  row {entry.id}", MUTED),
        ),
        Content.assemble(
            ("Document ", MUTED),
            visible(t(entry.document) or "-"),
            ("   Kind ", MUTED),
            visible(t(entry.kind) or "-"),
        ),
        Content.assemble(("Xero correlation id ", MUTED), visible(t(entry.correlation_id) or "-")),
        message_text(entry.message, whole),
    ]
    if kb is not None:
        lines += [
            Content.assemble(("Known error: ", "bold"), lines_of(kb.title)),
            Content.assemble(("Cause: ", "bold"), lines_of(kb.cause)),
            Content.assemble(("Fix: ", "bold $success"), lines_of(kb.fix)),
            Content.assemble(("Refresh step that helps: ", "bold"), visible(kb.refresh_step)),
        ]
    elif entry.kind:
        lines.append(Content("No knowledge base entry for this kind.").stylize(MUTED))
    return Content("\n").join(lines)


def _clickable(label: str, action: str, on: bool = False) -> Content:
    """A label that runs one of this screen's actions when clicked.

    The label goes in as a markup variable, so typed text such as `[/]` stays literal.
    """
    style = "reverse bold" if on else "underline"
    return Content.from_markup(f"[@click=screen.{action}][{style}]$label[/][/]", label=label)


def filter_line(query: LogQuery, span: str | None, fixed_org: str | None) -> Content:
    """Each filter with its key; fixed_org is the organisation a one-org log is opened on."""
    q = query
    parts: list[Content | str | tuple[str, str]] = [("l", KEY), (" Level ", MUTED)]
    for level in LEVELS:
        parts += [_clickable(level.capitalize(), f"level('{level}')", q.level == level), " "]
    parts += [("· ", MUTED), ("t", KEY), (" Time ", MUTED)]
    parts += [_clickable(span or "all", "cycle_time")]
    parts += [(" · ", MUTED), ("K", KEY), (" Kind ", MUTED)]
    parts += [_clickable(visible(q.kind) if q.kind else "any", "pick_kind")]
    if fixed_org:
        parts += [(" · Org ", MUTED), visible(fixed_org)]
    else:
        parts += [(" · ", MUTED), ("o", KEY), (" Org ", MUTED)]
        parts += [_clickable(visible(q.org) if q.org else "all", "pick_org")]
    if q.search:
        parts += [(" · ", MUTED), Content(f"“{visible(q.search)}”")]
    return Content.assemble(*parts)
