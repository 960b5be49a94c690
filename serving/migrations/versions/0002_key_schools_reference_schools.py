"""api_key_schools.school_urn references schools

A key could be scoped to a URN the service did not hold (a typing mistake), and would start
working for whichever school was later registered under it. Scopes now reference ``schools``;
scope rows naming no registered school are removed first (they gave access to nothing).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FK_NAME = "fk_api_key_schools_school_urn_schools"


def upgrade() -> None:
    removed = op.get_bind().execute(
        sa.text("DELETE FROM api_key_schools WHERE school_urn NOT IN (SELECT urn FROM schools)")
    )
    if removed.rowcount:
        logging.getLogger("alembic").warning(
            "removed %d key scope(s) naming a school the service does not hold", removed.rowcount
        )
    with op.batch_alter_table("api_key_schools", schema=None) as batch_op:
        batch_op.create_foreign_key(FK_NAME, "schools", ["school_urn"], ["urn"])


def downgrade() -> None:
    with op.batch_alter_table("api_key_schools", schema=None) as batch_op:
        batch_op.drop_constraint(FK_NAME, type_="foreignkey")
