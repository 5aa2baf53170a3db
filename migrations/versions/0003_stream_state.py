"""stream state: the seq and last-updated time of each (board, period) live stream

Revision ID: 5c1e7b2d9a30
Revises: b0a2d5c81e14
Create Date: 2026-12-03 12:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '5c1e7b2d9a30'
down_revision = 'b0a2d5c81e14'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stream_state',
    sa.Column('board', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('seq', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['board'], ['boards.slug'], name=op.f('fk_stream_state_board_boards'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('board', 'period', name=op.f('pk_stream_state'))
    )


def downgrade():
    op.drop_table('stream_state')
