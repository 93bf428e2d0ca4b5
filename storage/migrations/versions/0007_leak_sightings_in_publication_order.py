"""a leak's sightings in publication order, from one index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00

A leak's sightings are read a page at a time, oldest publication first (the claimed `found_at`,
else `received_at`, then `received_at`, then the sighting's id). Those times live on `sightings`,
the leak on `sighting_matches`, and no index spans a join: each page would sort every sighting of
the leak. So each match row carries its sighting's two times, fixed once the sighting is written,
and one index on (leak_id, published_at, received_at, sighting_id) answers a page as a range. Its
leading column serves every other lookup by leak, so the index of `leak_id` alone goes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sighting_matches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('received_at', storage.types.UTCDateTime(timezone=True), nullable=True))
    # Both back ends store the two columns in the format of the sightings' own, so a copy in SQL
    # keeps every value comparable with what the application writes.
    op.execute(
        "UPDATE sighting_matches SET"
        " published_at = (SELECT COALESCE(s.found_at, s.received_at) FROM sightings s"
        " WHERE s.id = sighting_matches.sighting_id),"
        " received_at = (SELECT s.received_at FROM sightings s"
        " WHERE s.id = sighting_matches.sighting_id)"
    )
    with op.batch_alter_table('sighting_matches', schema=None) as batch_op:
        batch_op.alter_column('published_at', existing_type=storage.types.UTCDateTime(timezone=True), nullable=False)
        batch_op.alter_column('received_at', existing_type=storage.types.UTCDateTime(timezone=True), nullable=False)
        batch_op.drop_index('ix_sighting_matches_leak_id')
        batch_op.create_index(
            'ix_sighting_matches_leak_order',
            ['leak_id', 'published_at', 'received_at', 'sighting_id'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('sighting_matches', schema=None) as batch_op:
        batch_op.drop_index('ix_sighting_matches_leak_order')
        batch_op.create_index('ix_sighting_matches_leak_id', ['leak_id'], unique=False)
        batch_op.drop_column('received_at')
        batch_op.drop_column('published_at')
