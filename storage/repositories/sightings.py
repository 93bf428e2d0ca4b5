"""Sighting rows and their matches against assets."""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from storage.models import Sighting, SightingMatch

_TABLE: Table = Sighting.__table__  # type: ignore[attr-defined]
# Below SQLite's (32,766) and PostgreSQL's (65,535) limits on bound parameters per statement.
_MAX_PARAMS = 30_000


@dataclass(frozen=True, slots=True)
class StoredSighting:
    """What a receipt shows of a sighting already stored."""

    id: UUID
    sha256: str | None
    received_at: datetime
    low_information: str | None


def existing(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StoredSighting]:
    """The stored sightings among these (page key, content key) pairs. Two IN lists rather than a
    row-value IN, which SQLite answers with a scan of the whole table; the few extra pairs the
    cross product can bring back are dropped here."""
    if not keys:
        return {}
    c = _TABLE.c
    statement = select(
        c.page_key, c.content_key, c.id, c.sha256, c.received_at, c.low_information
    ).where(
        c.page_key.in_({page for page, _ in keys}),
        c.content_key.in_({content for _, content in keys}),
    )
    wanted = set(keys)
    return {
        (page, content): StoredSighting(id_, sha256, received_at, low_information)
        for page, content, id_, sha256, received_at, low_information in session.execute(statement)
        if (page, content) in wanted
    }


@dataclass(frozen=True)
class _InsertTemplate:
    """The single-row INSERT as the dialect compiles it (quoting, casts, placeholders), turned
    positional, and each column's bind processor: all a multi-row INSERT needs, made once."""

    head: str  # "INSERT INTO sightings (...) VALUES "
    group: str  # "(?, ?, ...)"
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


@lru_cache(maxsize=16)
def _template(dialect: Dialect, columns: tuple[str, ...]) -> _InsertTemplate | None:
    compiled = insert(_TABLE).compile(dialect=dialect, column_keys=list(columns))
    sql = compiled.string
    if compiled.positional and dialect.paramstyle == "qmark":
        order = list(compiled.positiontup or [])
    elif dialect.paramstyle == "pyformat":
        order = re.findall(r"%\((\w+)\)s", sql)
        sql = re.sub(r"%\((\w+)\)s", "%s", sql)
    else:
        return None  # another driver: the plain executemany path below
    head, sep, group = sql.partition(" VALUES ")
    if not sep or sorted(order) != sorted(columns) or not group.startswith("("):
        return None
    types = {name: _TABLE.c[name].type for name in columns}
    processors = tuple(types[n].dialect_impl(dialect).bind_processor(dialect) for n in order)
    return _InsertTemplate(head + sep, group, tuple(order), processors)


class StagedRows:
    """Sighting rows with every column but the late ones already converted to what the driver
    takes (UUIDs, timestamps, JSON text), so that inserting them, under the chain's lock, is one
    statement and no per-value work. Build with `stage`, insert a chosen subset with `add_staged`."""

    def __init__(
        self, dialect: Dialect, rows: Sequence[Mapping[str, Any]], late: Sequence[str]
    ) -> None:
        self._rows = rows
        self._late_names = tuple(late)
        self._template = _template(dialect, tuple(rows[0])) if rows else None
        self._values: list[list[Any]] = []
        self._late: list[tuple[int, Callable[[Any], Any] | None]] = []
        if self._template is None:
            return
        where = {name: i for i, name in enumerate(self._template.columns)}
        self._late = [(where[name], self._template.processors[where[name]]) for name in late]
        pairs = tuple(zip(self._template.columns, self._template.processors, strict=True))
        self._values = [
            [row[name] if proc is None else proc(row[name]) for name, proc in pairs] for row in rows
        ]

    def add(self, session: Session, chosen: Sequence[tuple[int, Sequence[Any]]]) -> None:
        """Inserts the rows at these indexes, each with its late values (in `late` order)."""
        if not chosen:
            return
        template = self._template
        if template is None:
            rows = [
                {**self._rows[i], **dict(zip(self._late_names, late, strict=True))}
                for i, late in chosen
            ]
            session.execute(insert(Sighting), rows)
            return
        per_statement = max(1, _MAX_PARAMS // len(template.columns))
        for start in range(0, len(chosen), per_statement):
            part = chosen[start : start + per_statement]
            params: list[Any] = []
            for index, late in part:
                values = self._values[index]
                for (position, proc), value in zip(self._late, late, strict=True):
                    values[position] = value if proc is None else proc(value)
                params.extend(values)
            sql = template.head + ", ".join([template.group] * len(part))
            session.connection().exec_driver_sql(sql, tuple(params))


def stage(session: Session, rows: Sequence[Mapping[str, Any]], late: Sequence[str]) -> StagedRows:
    """Converts the rows' values for the driver now, outside any lock; `late` names the columns
    whose values are only known at insert time."""
    return StagedRows(session.get_bind().dialect, rows, late)


def get(session: Session, sighting_id: UUID) -> Sighting | None:
    return session.get(Sighting, sighting_id)


def add_matches(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """sighting_matches rows as column values, in one executemany: nothing reads them back in
    the request that writes them, and a model object each would cost more than the insert."""
    if rows:
        session.execute(insert(SightingMatch), list(rows))
