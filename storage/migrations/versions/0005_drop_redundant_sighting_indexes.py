"""drop sighting indexes no query uses

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 01:45:00

Every sighting row is written to each of its table's indexes, under the chain's lock. Two of them
earned nothing: `page_key` alone is the leading column of UNIQUE (page_key, content_key), which
serves every lookup by page, and no query looks up `content_key` without its page (deduplication
asks for the pair; dismissals compare the keys of rows already found by leak).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.drop_index('ix_sightings_page_key')
        batch_op.drop_index('ix_sightings_content_key')


def downgrade() -> None:
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.create_index('ix_sightings_content_key', ['content_key'], unique=False)
        batch_op.create_index('ix_sightings_page_key', ['page_key'], unique=False)
