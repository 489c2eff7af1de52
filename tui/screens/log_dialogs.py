"""The log browser's dialogs: pick an error kind, errors grouped by kind, export to CSV.

Each is a modal over LogsScreen that reads the store in a thread worker (StoreScreen: its own
connection, its answer a message, a failure notified or, for the export, shown in the dialog)
and dismisses with what the person chose: a kind to filter by, or the path written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from store.errors import SyncdeskError, UnknownOrganisation
from store.kb import knowledge_by_kind
from store.logs import LogQuery, error_groups
from store.models import ErrorGroup, KnowledgeEntry
from store.paths import export_target, exports_dir, open_private
from store.timeparse import file_stamp, when
from store.watch import count_log, walk_log
from tui.log_csv import LogCsvWriter
from tui.safe import lines, visible
from tui.screens.base import StoreScreen, failure_text, store_work
from tui.widgets.log_text import MUTED
from tui.widgets.progress import Work, WorkProgress
from tui.widgets.row_table import Column, ListSource, RowTable
from tui.widgets.words import key_hint, plural

# The screen and its modals load their stylesheet themselves, so the screen works in any App;
# Textual reads a given file once however many classes (or the App) name it.
CSS_FILE = Path(__file__).parent.parent / "styles" / "logs.tcss"  # absolute: subclasses too


class KindsDialog(StoreScreen, ModalScreen[str | None]):
    """A dialog over the error kinds of the log's organisation and time range: dismissed with
    the kind chosen ('' for any), or None when closed."""

    CSS_PATH = CSS_FILE

    @dataclass
    class Loaded(Message, bubble=False):
        groups: list[ErrorGroup]
        kb: dict[str, KnowledgeEntry]

    def __init__(self, db_path: Path, query: LogQuery) -> None:
        super().__init__(db_path)
        self.log_query = query

    def on_mount(self) -> None:
        self.load()

    @store_work(group="kinds")
    def load(self) -> Loaded:
        with self.store() as db:
            try:
                groups = error_groups(db, org=self.log_query.org, since=self.log_query.since)
            except UnknownOrganisation:  # an org:CODE word still being typed
                groups = []
            return self.Loaded(groups, knowledge_by_kind(db))

    def on_kinds_dialog_loaded(self, message: Loaded) -> None:
        self.show_kinds(message.groups, message.kb)

    def show_kinds(self, groups: list[ErrorGroup], kb: dict[str, KnowledgeEntry]) -> None:
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)


class KindPickerScreen(KindsDialog):
    """Choose an error kind to filter by: known kinds, the ones seen most first."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, db_path: Path, query: LogQuery, current: str | None = None) -> None:
        super().__init__(db_path, query)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="kind-picker", classes="log-modal"):
            yield Static("Filter by kind", classes="log-modal-title")
            yield OptionList(Option("any kind", id=""), id="kind-options", markup=False)
            yield Static(
                key_hint("enter filters by the kind", "escape cancels"), classes="dialog-keys"
            )

    def show_kinds(self, groups: list[ErrorGroup], kb: dict[str, KnowledgeEntry]) -> None:
        counts = {g.kind: g.count for g in groups}
        kinds = sorted(set(counts) | set(kb), key=lambda k: (-counts.get(k, 0), k))
        options = [Option("any kind", id="")]
        for kind in kinds:
            title = kb[kind].title if kind in kb else ""
            count = f"{counts[kind]:>7,}" if kind in counts else "      -"
            prompt = Content.assemble(
                (count, MUTED), "  ", visible(kind).ljust(24), (f" {visible(title)}", MUTED)
            )
            options.append(Option(prompt, id=kind))
        option_list = self.query_one(OptionList)
        option_list.set_options(options)
        ids = [o.id for o in options]
        option_list.highlighted = ids.index(self.current) if self.current in ids else 0
        option_list.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or "")


GROUP_COLUMNS = (
    Column("KIND", 24),
    Column("ERRORS", 8, align_right=True),
    Column("ORGS", 6, align_right=True),
    Column("FIRST SEEN", 11),
    Column("LAST SEEN", 11),
    Column("WHAT IT IS", None, min_width=10, hide_below=90),  # and under the table anyway
)


def group_cells(group: ErrorGroup) -> list[tuple[str, str]]:
    return [
        (group.kind, "bad"),
        (f"{group.count:,}", ""),
        (f"{group.orgs:,}", ""),
        (when(group.first_at), "muted"),
        (when(group.last_at), "muted"),
        (group.title or "-", "muted" if not group.title else ""),
    ]


class ErrorGroupsScreen(KindsDialog):
    """Errors grouped by kind for the log's organisation and time range; enter filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,s", "close", "Close"),
    ]

    def __init__(self, db_path: Path, query: LogQuery) -> None:
        super().__init__(db_path, query)
        self.groups: list[ErrorGroup] = []

    def compose(self) -> ComposeResult:
        scope = f"org {self.log_query.org}" if self.log_query.org else "all organisations"
        since = f"since {self.log_query.since}" if self.log_query.since else "all time"
        with Vertical(id="error-groups", classes="log-modal"):
            yield Static(
                Content.assemble(
                    ("Errors by kind", "bold"),
                    f" · {visible(scope)} · {since}",
                ),
                classes="log-modal-title",
            )
            yield RowTable(GROUP_COLUMNS, id="group-table")
            yield Static(id="group-advice")
            yield Static(
                key_hint("enter filters the log by the kind", "escape or s closes"),
                classes="dialog-keys",
            )

    def show_kinds(self, groups: list[ErrorGroup], kb: dict[str, KnowledgeEntry]) -> None:
        self.groups = groups
        table = self.query_one(RowTable)
        table.set_source(ListSource([group_cells(g) for g in groups]))
        table.focus()
        self.show_advice(0)

    @on(RowTable.RowHighlighted)
    def highlighted(self, event: RowTable.RowHighlighted) -> None:
        self.show_advice(event.index)

    def show_advice(self, index: int) -> None:
        advice = self.query_one("#group-advice", Static)
        if not self.groups:
            advice.update(Content("No errors in this range.").stylize(MUTED))
            return
        g = self.groups[index]
        advice.update(
            Content.assemble(
                (visible(g.title or g.kind), "bold"),
                ("\nFix: ", "bold $success"),
                lines(g.fix or "no knowledge base entry"),
            )
        )

    @on(RowTable.RowChosen)
    def group_chosen(self, event: RowTable.RowChosen) -> None:
        if self.groups:
            self.dismiss(self.groups[event.index].kind)


class ExportScreen(StoreScreen, ModalScreen[Path | None]):
    """Write every row of the current filter to CSV, with progress; escape cancels."""

    CSS_PATH = CSS_FILE

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    @dataclass
    class Exported(Message, bubble=False):
        path: Path
        written: int
        work: Work

    @dataclass
    class Stopped(Message, bubble=False):
        """Escape during the export: the rows written so far are thrown away."""

        written: int
        total: int | None
        work: Work

    def __init__(self, db_path: Path, query: LogQuery, now: datetime) -> None:
        super().__init__(db_path)
        self.log_query = query
        self.default_name = f"syncdesk-log-{file_stamp(now)}.csv"
        self.running = False
        self.target: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="log-export", classes="log-modal"):
            yield Static(
                Content.assemble(
                    ("Export the current filter to CSV", "bold"),
                    (" (enter writes, escape cancels)", MUTED),
                ),
                classes="log-modal-title",
            )
            yield Static(
                Content.assemble(
                    ("A file name goes into ", MUTED),
                    visible(str(exports_dir())),
                    ("; type a path to write elsewhere.", MUTED),
                ),
                id="export-where",
            )
            yield Input(self.default_name, id="export-path")
            yield WorkProgress(id="export-progress")
            yield Static(id="export-status")
            yield Static(key_hint("enter writes the file", "escape cancels"), classes="dialog-keys")

    @on(Input.Submitted, "#export-path")
    def start(self, event: Input.Submitted) -> None:
        if self.running or not event.value.strip():
            return
        try:  # a browser (syncdesk serve) may only write inside the data directory
            self.target = export_target(event.value, confined=self.app.is_web)
        except SyncdeskError as exc:
            self._say_error(str(exc))
            return
        work = self.begin_work("Export")
        if work is None:
            return
        self.running = True
        event.input.disabled = True
        self.query_one("#export-status", Static).update("")
        self.export(self.target, work)

    @store_work(group="export")
    def export(self, path: Path, work: Work) -> Exported | Stopped | None:
        worker = get_current_worker()

        def stop() -> bool:
            return worker.is_cancelled or work.cancelled()

        part = path.with_name(path.name + ".part")
        total: int | None = None
        written = 0
        try:
            with self.store() as db:
                work.progress(0, 0, "counting the rows")
                total = count_log(db, self.log_query, cancelled=stop)
                if not stop():
                    part.unlink(missing_ok=True)  # a crashed export's leftover, or a link
                    with open_private(part) as fh:
                        writer = LogCsvWriter(fh)
                        for page in walk_log(db, self.log_query):
                            work.progress(writer.written, total or 0, "writing rows")
                            if stop():
                                break
                            writer.write(page.entries)
                        written = writer.written
            if stop():
                part.unlink(missing_ok=True)
                return self.Stopped(written, total, work)
            part.replace(path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise  # to failed(), which says so in the dialog
        return self.Exported(path, written, work)

    def on_export_screen_stopped(self, message: Stopped) -> None:
        self.end_work(message.work)
        if not self.running:
            return
        self.running = False
        of = f" of {message.total:,}" if message.total is not None else ""
        rows = "row" if (message.total or message.written) == 1 else "rows"
        self.app.notify(
            f"Export cancelled after {message.written:,}{of} {rows}; no file written.",
            markup=False,
        )
        self.dismiss(None)

    def failed(self, error: BaseException) -> None:
        """Shown in the dialog, which stays open to try another path."""
        self.end_work()
        if not self.running:
            return
        self.running = False
        if isinstance(error, OSError):
            message = f"Cannot write {self.target}: {error.strerror}."
        else:
            message = failure_text(error)
        self._say_error(message)

    def _say_error(self, message: str) -> None:
        field = self.query_one("#export-path", Input)
        field.disabled = False
        field.focus()
        self.query_one("#export-status", Static).update(Content(visible(message)).stylize("$error"))

    def on_export_screen_exported(self, message: Exported) -> None:
        self.end_work(message.work)
        if not self.running:
            return
        self.running = False
        self.app.notify(
            f"Exported {plural(message.written, 'row')} to {message.path.resolve()}", markup=False
        )
        self.dismiss(message.path)

    def action_cancel(self) -> None:
        if self.running:
            self.running = False
            self.workers.cancel_group(self, "export")
            self.app.notify("Export cancelled; no file written.", markup=False)
        self.dismiss(None)
