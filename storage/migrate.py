"""Alembic, driven from code: bring a database to the head revision, or report where it is."""

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"

# Alembic announces its dialect at INFO on every context; readiness probes would repeat it forever.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> None:
    # Checked first because alembic's upgrade loads every revision script even when there is
    # nothing to do, some 30 ms of each start.
    if not is_at_head(engine):
        command.upgrade(_config(engine), "head")


@cache
def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
