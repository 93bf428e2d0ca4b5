"""chain positions verified

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:45:00

`leaksentinel verify` records the head it found intact, so that a routine run walks only what
was added since (`--full` still walks everything).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'chain_checkpoints',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('verified_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('full', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_chain_checkpoints_seq'), 'chain_checkpoints', ['seq'])


def downgrade() -> None:
    op.drop_index(op.f('ix_chain_checkpoints_seq'), table_name='chain_checkpoints')
    op.drop_table('chain_checkpoints')
