"""sighting evidence chain and idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:24:16.969889

Sightings recorded before this revision get their page URL as page key and their own id as
content key (so none of them is merged into another), and no chain position: the service appends
them to the chain, in the order they were received, when it next starts.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = '0' * 64


def upgrade() -> None:
    chain_head = op.create_table('chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(chain_head, [{'id': 1, 'seq': 0, 'digest': GENESIS}])
    op.create_table('idempotency_records',
    sa.Column('api_key_id', sa.Uuid(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('api_key_id', 'key')
    )
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('page_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('image_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('content_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('submitted_as', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('fingerprints', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('chain_seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('chain_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    sightings = sa.table('sightings', sa.column('id', sa.Uuid()), sa.column('page_url'),
                         sa.column('image_url'), sa.column('page_key'), sa.column('image_key'),
                         sa.column('content_key'), sa.column('submitted_as'))
    bind = op.get_bind()
    for row in bind.execute(sa.select(sightings.c.id, sightings.c.page_url, sightings.c.image_url)).all():
        bind.execute(
            sightings.update().where(sightings.c.id == row.id).values(
                page_key=row.page_url, image_key=row.image_url, content_key=row.id.hex,
                submitted_as='upload',
            )
        )

    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.alter_column('page_key', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.alter_column('content_key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.alter_column('submitted_as', existing_type=sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False)
        batch_op.create_index(batch_op.f('ix_sightings_content_key'), ['content_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_sightings_page_key'), ['page_key'], unique=False)
        batch_op.create_unique_constraint('uq_sightings_chain_seq', ['chain_seq'])
        batch_op.create_unique_constraint('uq_sightings_page_content', ['page_key', 'content_key'])


def downgrade() -> None:
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sightings_page_content', type_='unique')
        batch_op.drop_constraint('uq_sightings_chain_seq', type_='unique')
        batch_op.drop_index(batch_op.f('ix_sightings_page_key'))
        batch_op.drop_index(batch_op.f('ix_sightings_content_key'))
        batch_op.drop_column('chain_digest')
        batch_op.drop_column('chain_seq')
        batch_op.drop_column('fingerprints')
        batch_op.drop_column('submitted_as')
        batch_op.drop_column('content_key')
        batch_op.drop_column('image_key')
        batch_op.drop_column('page_key')

    op.drop_table('idempotency_records')
    op.drop_table('chain_head')
