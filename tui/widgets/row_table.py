"""RowTable: a table that renders only the rows on screen.

Textual's DataTable measures every cell of every row up front (seconds at 100k rows), so this
draws each visible line on demand from a RowSource, through the line API (ScrollView plus
render_line). Cells are plain text, made visible (no markup, no control characters), padded
or cut with an ellipsis to their column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.safe import one_line
from tui.widgets.marked import MARK, marked_text


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    width: int | None = None  # None: share what the fixed columns leave
    min_width: int = 6
    align_right: bool = False
    hide_below: int = 0  # hidden when the table is narrower than this
    show_below: int | None = None  # only shown when the table is narrower than this


class RowSource(Protocol):
    """What a RowTable shows: a row count and each row's cells as (text, style class) pairs."""

    def __len__(self) -> int: ...

    def cells(self, index: int) -> Sequence[tuple[str, str]]: ...


class ListSource:
    """A RowSource over rows already in memory."""

    def __init__(self, rows: Sequence[Sequence[tuple[str, str]]] = ()) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def cells(self, index: int) -> Sequence[tuple[str, str]]:
        return self.rows[index]


class RowTable(ScrollView, can_focus=True):
    """A keyboard-driven table over a RowSource, with a fixed header line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f,space", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "choose", "Open", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "row-table--header",
        "row-table--cursor",
        "row-table--muted",
        "row-table--bad",
        "row-table--warn",
        "row-table--good",
        "row-table--info",
    }
    DEFAULT_CSS = """
    RowTable { background: $surface; }
    RowTable > .row-table--header { text-style: bold; background: $panel; color: $foreground; }
    RowTable > .row-table--cursor { background: $block-cursor-background;
                                    color: $block-cursor-foreground; }
    RowTable:blur > .row-table--cursor { background: $block-cursor-blurred-background; }
    RowTable > .row-table--muted { color: $text-muted; }
    RowTable > .row-table--bad { color: $error; text-style: bold; }
    RowTable > .row-table--warn { color: $warning; }
    RowTable > .row-table--good { color: $success; }
    RowTable > .row-table--info { color: $text-accent; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)

    class RowHighlighted(Message):
        """The cursor moved to a row."""

        def __init__(self, table: RowTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> RowTable:
            return self.table

    class RowChosen(Message):
        """Enter was pressed on a row."""

        def __init__(self, table: RowTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        source: RowSource | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self.source: RowSource = source or ListSource()

    # --- data --------------------------------------------------------------------------------

    def set_source(self, source: RowSource, *, keep_cursor: bool = False) -> None:
        """Show new rows (the cursor goes back to the top unless keep_cursor)."""
        self.source = source
        self._update_virtual_size()
        self.cursor = min(self.cursor, max(0, len(source) - 1)) if keep_cursor else 0
        if not keep_cursor:
            self.scroll_to(y=0, animate=False)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.source)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.source) + 1)

    def on_resize(self) -> None:
        self._update_virtual_size()

    # --- layout ------------------------------------------------------------------------------

    def _widths(self) -> list[int]:
        """Each column's width; 0 for a column hidden at this table width (computed once per
        table width and set of columns, not once per drawn line)."""
        total = self.scrollable_content_region.width
        key = (total, self.columns)
        if getattr(self, "_width_key", None) == key:
            return self._width_cache
        self._width_key = key
        self._width_cache = self._compute_widths(total)
        return self._width_cache

    def _compute_widths(self, total: int) -> list[int]:
        shown = [
            c.hide_below <= total and (c.show_below is None or total < c.show_below)
            for c in self.columns
        ]
        fixed = sum(
            c.width for c, on in zip(self.columns, shown, strict=True) if on and c.width is not None
        )
        flex = [i for i, c in enumerate(self.columns) if shown[i] and c.width is None]
        spare = max(0, total - fixed - (sum(shown) - 1))
        share = spare // len(flex) if flex else 0
        widths = []
        for c, on in zip(self.columns, shown, strict=True):
            if not on:
                widths.append(0)
            else:
                widths.append(c.width if c.width is not None else max(c.min_width, share))
        if flex and spare > share * len(flex):  # give the remainder to the last flexible column
            widths[flex[-1]] += spare - share * len(flex)
        return widths

    def _line(self, cells: Sequence[tuple[str, str]], base: Style, cursor: bool) -> Strip:
        segments = []
        for (text, style_class), column, width in zip(
            cells, self.columns, self._widths(), strict=False
        ):
            if width == 0:
                continue
            if segments:
                segments.append(Segment(" ", base))
            # Cut before escaping: a 1 MB message costs what its visible part costs.
            text = one_line(marked_text(text)[: width + 1])
            if len(text) > width:
                text = text[: max(0, width - 1)] + "…"
            text = text.rjust(width) if column.align_right else text.ljust(width)
            style = base
            if style_class and not cursor:
                style = base + self.get_component_rich_style(f"row-table--{style_class}")
            segments.append(Segment(text, style))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("row-table--header")
            strip = self._line([(c.label, "") for c in self.columns], base + header, True)
            return strip.extend_cell_length(width, base + header).crop(0, width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.source):
            return Strip.blank(width, base)
        cursor = index == self.cursor
        style = base + self.get_component_rich_style("row-table--cursor") if cursor else base
        try:
            cells = self.source.cells(index)
        except Exception:  # one unreadable row must not blank the table: mark it, draw the rest
            cells = [(f"{MARK} unreadable row", "bad")]
        strip = self._line(cells, style, cursor)
        return strip.extend_cell_length(width, style).crop(0, width)

    # --- cursor ------------------------------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        if not len(self.source):
            return
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + self._page:
            self.scroll_to(y=new - self._page + 1, animate=False)
        self.refresh()
        self.post_message(self.RowHighlighted(self, new))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.source) - 1)) if len(self.source) else 0

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * self._page

    def action_jump(self, where: int) -> None:
        self.cursor = where if where >= 0 else len(self.source) - 1

    def action_choose(self) -> None:
        if len(self.source):
            self.post_message(self.RowChosen(self, self.cursor))

    def on_click(self, event) -> None:  # noqa: ANN001 - textual.events.Click
        index = self.scroll_offset.y + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.source):
            if index == self.cursor and event.chain >= 2:
                self.action_choose()
            self.cursor = index
