"""sightings waiting to be matched

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00

A sighting's match decision moves off the request path: the receipt commits the sighting with
what it is searched with beside it, and a worker matches it and deletes the row as it records
the matches, so a crawler's answer takes the same time whether or not its picture matched.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'pending_matches',
        sa.Column('sighting_id', sa.Uuid(), nullable=False),
        sa.Column('fingerprints', sa.JSON(), nullable=False),
        sa.Column('local_features', sa.LargeBinary(), nullable=True),
        sa.Column('low_information', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column('queued_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sighting_id'], ['sightings.id']),
        sa.PrimaryKeyConstraint('sighting_id'),
    )
    op.create_index(op.f('ix_pending_matches_queued_at'), 'pending_matches', ['queued_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_pending_matches_queued_at'), table_name='pending_matches')
    op.drop_table('pending_matches')
