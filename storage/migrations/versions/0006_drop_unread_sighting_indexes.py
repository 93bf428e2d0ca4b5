"""drop sighting indexes that no query reads

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 04:50:00

Each index on `sightings` is written for every sighting, under the chain's lock, and these two at
a random place each time: `sha256` is a hash, and `domain` takes a row at the end of each of
thousands of domains, so each batch of sightings dirtied about one page per row in each. No query
starts from either: leaks filtered by domain and the sources report reach sightings from their
matches, by primary key; the evidence views read sightings by leak. A lookup by file hash, when a
feature needs one, brings its index back with it.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.drop_index('ix_sightings_sha256')
        batch_op.drop_index('ix_sightings_domain')


def downgrade() -> None:
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.create_index('ix_sightings_domain', ['domain'], unique=False)
        batch_op.create_index('ix_sightings_sha256', ['sha256'], unique=False)
