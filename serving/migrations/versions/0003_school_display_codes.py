"""schools.display_codes: a school's own display codes

SIMS can show a school-local display code that differs from the statutory code (``9`` for
``Y``). A school sets its mapping with ``PUT /v1/schools/{urn}/display-codes``; register uploads
read marks through it. NULL (every existing school) means no display codes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_codes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_column("display_codes")
