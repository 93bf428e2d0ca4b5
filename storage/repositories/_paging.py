"""Keyset pagination over (timestamp, id), newest first."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

Position = tuple[datetime, UUID]


def after(ts_column: Any, id_column: Any, position: Position | None) -> ColumnElement[bool] | None:
    """Rows strictly after `position` in (ts desc, id desc) order."""
    if position is None:
        return None
    ts, row_id = position
    return or_(ts_column < ts, and_(ts_column == ts, id_column < row_id))
