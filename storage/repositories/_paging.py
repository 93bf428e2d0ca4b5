"""Keyset pagination over (timestamp, id), newest first unless asked otherwise."""

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
    ts, row_id = position
    if descending:
        return or_(ts_column < ts, and_(ts_column == ts, id_column < row_id))
    return or_(ts_column > ts, and_(ts_column == ts, id_column > row_id))
