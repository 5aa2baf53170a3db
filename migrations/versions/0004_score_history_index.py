"""score history index: a player's score events on one board in time order

Revision ID: 9d4b6e1f2a77
Revises: 5c1e7b2d9a30
Create Date: 2026-12-03 13:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '9d4b6e1f2a77'
down_revision = '5c1e7b2d9a30'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('score_events', schema=None) as batch_op:
        batch_op.create_index('ix_score_events_user_board_created', ['user_id', 'board', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('score_events', schema=None) as batch_op:
        batch_op.drop_index('ix_score_events_user_board_created')
