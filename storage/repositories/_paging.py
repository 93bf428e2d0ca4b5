"""Keyset pagination over (timestamp, ..., id), newest first unless asked otherwise."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

Position = tuple[datetime, UUID]


def after(
    ts_column: Any, id_column: Any, position: Position | None, *, descending: bool = True
) -> ColumnElement[bool] | None:
    """Rows strictly after `position` in (ts, id) order, both descending or both ascending."""
    if position is None:
        return None
    return after_keys([ts_column, id_column], position, descending=descending)


def after_keys(
    columns: Sequence[Any], values: Sequence[Any], *, descending: bool = True
) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `columns`, all descending or all ascending.
    The bound on the first column alone is implied by the rest, but it is the one both back ends
    turn into the start of an index range, rather than a filter over the rows before the page."""
    if len(columns) != len(values) or not columns:
        raise ValueError("one value per key column")
    beyond = []
    for i, (column, value) in enumerate(zip(columns, values, strict=True)):
        ties = [c == v for c, v in zip(columns[:i], values[:i], strict=True)]
        beyond.append(and_(*ties, column < value if descending else column > value))
    first, start = columns[0], values[0]
    return and_(first <= start if descending else first >= start, or_(*beyond))
