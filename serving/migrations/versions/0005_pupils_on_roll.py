"""pupils.on_roll: whether the school's latest roster lists the pupil

A roster lists the pupils on roll; pupils missing from a later one are kept (they may have
left, and their marks and history stay), but they are no longer expected in the registers. A
week is scored once its register covers every pupil on roll, so the service needs to know who
that is. Every stored pupil starts on roll (as the service treated them until now).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("on_roll", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        batch_op.drop_column("on_roll")
