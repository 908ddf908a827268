"""The plate as crystallographers see it: rows x columns of wells, each holding its drops. Maps a
review queue (in plate order) onto that geometry and moves in it: by well with the arrows, through
the drops of a well with one key, and whole rows or columns for labelling. No Qt."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xtalviewer.store.rows import QueueRow


@dataclass
class PlateLayout:
    """Queue rows placed on the plate: ``cells[(row, col)]`` lists the queue indices of the well's
    drops in drop order (row and col 1-based, as the store holds them)."""

    rows: int
    cols: int
    drops: int
    cells: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    where: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # queue index -> (row, col, drop)

    @classmethod
    def of(cls, queue: Sequence[QueueRow], rows: int, cols: int, drops: int) -> PlateLayout:
        """Lay ``queue`` (review-queue rows with row, col, drop_no) out; the plate grows to hold any
        well beyond its recorded type."""
        layout = cls(max([rows, *(r.row for r in queue)]), max([cols, *(r.col for r in queue)]),
                     max([drops, *(r.drop_no for r in queue)]))
        for i, r in enumerate(queue):
            layout.cells.setdefault((r.row, r.col), []).append(i)
            layout.where[i] = (r.row, r.col, r.drop_no)
        for members in layout.cells.values():
            members.sort(key=lambda i: layout.where[i][2])
        return layout

    def drops_at(self, row: int, col: int) -> list[int]:
        return self.cells.get((row, col), [])

    def move(self, current: int, d_row: int, d_col: int) -> int:
        """The queue index one well away (arrows): the same drop number there when it has one, else
        its first drop; wells without images are stepped over; at the edge of the plate nothing moves."""
        if current not in self.where:
            return min(self.where, default=-1)
        row, col, drop = self.where[current]
        while True:
            row, col = row + d_row, col + d_col
            if not (1 <= row <= self.rows and 1 <= col <= self.cols):
                return current
            members = self.drops_at(row, col)
            if members:
                return next((i for i in members if self.where[i][2] == drop), members[0])

    def cycle(self, current: int, step: int = 1) -> int:
        """The next (``step`` -1: previous) drop of the current well, wrapping round."""
        if current not in self.where:
            return current
        members = self.drops_at(*self.where[current][:2])
        return members[(members.index(current) + step) % len(members)]

    def in_rows(self, rows: Iterable[int]) -> list[int]:
        """Queue indices of every drop in these plate rows (a clicked row header)."""
        wanted = set(rows)
        return sorted(i for (r, _), members in self.cells.items() if r in wanted for i in members)

    def in_cols(self, cols: Iterable[int]) -> list[int]:
        """Queue indices of every drop in these plate columns (a clicked column header)."""
        wanted = set(cols)
        return sorted(i for (_, c), members in self.cells.items() if c in wanted for i in members)

    def in_wells(self, wells: Iterable[tuple[int, int]]) -> list[int]:
        """Queue indices of every drop of these wells (a selection of cells)."""
        return sorted(i for w in set(wells) for i in self.drops_at(*w))
