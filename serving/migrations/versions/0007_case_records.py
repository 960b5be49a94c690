"""case_records: a referral's reason, barriers and structured outcome; typed contacts

A case record was one free-text note that grew by concatenation. Referrals now keep the
school's reason, the barriers identified (codes) and a structured close outcome; contacts
(home visit, phone call, ...) are rows of their own, dated, with their author, the action agreed
and a note shared with the school or private to the support service.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("barriers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("outcome_code", sa.String(length=20), nullable=True))
    op.create_table(
        "referral_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("author_key_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_contacts_referral_id_referrals"),
        ),
        sa.ForeignKeyConstraint(
            ["author_key_id"],
            ["api_keys.id"],
            name=op.f("fk_referral_contacts_author_key_id_api_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_contacts")),
    )
    op.create_index("ix_referral_contacts_referral", "referral_contacts", ["referral_id"])


def downgrade() -> None:
    op.drop_index("ix_referral_contacts_referral", table_name="referral_contacts")
    op.drop_table("referral_contacts")
    with op.batch_alter_table("referrals") as batch:
        batch.drop_column("outcome_code")
        batch.drop_column("barriers")
        batch.drop_column("reason")
