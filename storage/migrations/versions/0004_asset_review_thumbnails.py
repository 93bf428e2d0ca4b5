"""asset review thumbnails

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:25:52.962783

Assets registered before this revision keep no thumbnail: their pixels were never kept, so the
dashboard shows a placeholder for them, as for an asset registered from fingerprints.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thumbnail_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('thumbnail_sha256')
