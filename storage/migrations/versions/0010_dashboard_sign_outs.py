"""dashboard sessions ended by signing out

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:45:00

The dashboard's session cookie is signed, not stored; signing out now records the session's
nonce until the cookie would expire, so a copied cookie stops working at sign-out.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'dashboard_sign_outs',
        sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('key_id', sa.Uuid(), nullable=True),
        sa.Column('ended_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['key_id'], ['api_keys.id']),
        sa.PrimaryKeyConstraint('nonce'),
    )
    op.create_index(
        op.f('ix_dashboard_sign_outs_expires_at'), 'dashboard_sign_outs', ['expires_at']
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_dashboard_sign_outs_expires_at'), table_name='dashboard_sign_outs')
    op.drop_table('dashboard_sign_outs')
