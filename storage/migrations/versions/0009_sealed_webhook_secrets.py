"""webhook signing secrets sealed at rest

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:30:00

A webhook secret is now stored encrypted ("fernet:" and a Fernet token, about 170 characters),
longer than the 100 the column held. The service seals the secrets stored in the clear at its
next start (service/alerts/sealed.py), with a key this migration cannot know.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.alter_column(
            'secret', existing_type=sa.String(length=100), type_=sa.String(length=400)
        )


def downgrade() -> None:
    # Sealed secrets do not fit back: a downgrade needs the endpoints registered again.
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.alter_column(
            'secret', existing_type=sa.String(length=400), type_=sa.String(length=100)
        )
