"""the matched region of a found image, as a polygon

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00

A match by local features places the asset in the found image: four corners, as shares of its
width and height. Matches made before, and matches by the global hashes alone, have none.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sighting_matches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_polygon', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sighting_matches', schema=None) as batch_op:
        batch_op.drop_column('region_polygon')
