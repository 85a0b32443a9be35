"""notification log and api keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import adapters.storage.orm


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'notification_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=100), nullable=False),
        sa.Column('workspace', sa.String(length=64), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('channel', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('ref', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', adapters.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', adapters.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_notification_log_incident_id_incidents')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_log')),
    )
    with op.batch_alter_table('notification_log', schema=None) as batch_op:
        batch_op.create_index('uq_notification_log_delivery', ['scope', 'key', 'channel'], unique=True)
        batch_op.create_index('ix_notification_log_workspace', ['workspace', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_log_incident_id'), ['incident_id'], unique=False)

    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('workspace', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=False),
        sa.Column('created_at', adapters.storage.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', adapters.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', adapters.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', adapters.storage.orm.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
        sa.UniqueConstraint('key_id', name=op.f('uq_api_keys_key_id')),
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_workspace'), ['workspace'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_workspace'))
    op.drop_table('api_keys')
    with op.batch_alter_table('notification_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_log_incident_id'))
        batch_op.drop_index('ix_notification_log_workspace')
        batch_op.drop_index('uq_notification_log_delivery')
    op.drop_table('notification_log')
