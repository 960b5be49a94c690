"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 15:01:16.690530
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("school_urn", sa.Integer(), nullable=True),
        sa.Column("upn", sa.String(length=13), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)

    op.create_table(
        "schools",
        sa.Column("urn", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("la", sa.String(length=100), nullable=True),
        sa.Column("data_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("urn", name=op.f("pk_schools")),
    )
    op.create_table(
        "api_key_schools",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_api_key_schools_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("key_id", "school_urn", name=op.f("pk_api_key_schools")),
    )
    op.create_table(
        "enrolment_totals",
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("academic_year", sa.String(length=7), nullable=False),
        sa.Column("possible_sessions", sa.Integer(), nullable=False),
        sa.Column("absence_sessions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_enrolment_totals_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint(
            "school_urn", "upn", "academic_year", name=op.f("pk_enrolment_totals")
        ),
    )
    with op.batch_alter_table("enrolment_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrolment_totals_upn_year", ["upn", "academic_year"], unique=False
        )

    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("risk_at_referral", sa.Float(), nullable=True),
        sa.Column("as_of_at_referral", sa.Date(), nullable=True),
        sa.Column("model_name_at_referral", sa.String(length=100), nullable=True),
        sa.Column("model_version_at_referral", sa.String(length=20), nullable=True),
        sa.Column("reasons_at_referral", sa.JSON(), nullable=True),
        sa.Column("created_by_key_id", sa.Integer(), nullable=True),
        sa.Column("practitioner_key_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_key_id"],
            ["api_keys.id"],
            name=op.f("fk_referrals_created_by_key_id_api_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_key_id"],
            ["api_keys.id"],
            name=op.f("fk_referrals_practitioner_key_id_api_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_referrals_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_school_status", ["school_urn", "status"], unique=False)

    op.create_table(
        "score_runs",
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("academic_year", sa.String(length=7), nullable=False),
        sa.Column("week", sa.SmallInteger(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.Column("pupils", sa.Integer(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_score_runs_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint("school_urn", "as_of", name=op.f("pk_score_runs")),
    )
    op.create_table(
        "scores",
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("academic_year", sa.String(length=7), nullable=False),
        sa.Column("week", sa.SmallInteger(), nullable=False),
        sa.Column("year_group", sa.SmallInteger(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("attendance_ytd", sa.Float(), nullable=True),
        sa.Column("attendance_change_4w", sa.Float(), nullable=True),
        sa.Column("emerging", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_scores_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint("school_urn", "as_of", "upn", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index("ix_scores_list", ["school_urn", "as_of", "rank"], unique=False)

    op.create_table(
        "trajectories",
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("academic_year", sa.String(length=7), nullable=False),
        sa.Column("weeks", sa.SmallInteger(), nullable=False),
        sa.Column("first_week_start", sa.Date(), nullable=False),
        sa.Column("last_week_start", sa.Date(), nullable=False),
        sa.Column("last_mark_date", sa.Date(), nullable=False),
        sa.Column("feature_schema_version", sa.String(length=10), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_trajectories_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint("school_urn", "academic_year", name=op.f("pk_trajectories")),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_uploads_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_uploads_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_uploads_school_kind_sha", ["school_urn", "kind", "sha256"], unique=False
        )

    op.create_table(
        "marks",
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("session", sa.String(length=2), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("minutes_late", sa.Float(), nullable=True),
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_marks_school_urn_schools")
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["uploads.id"], name=op.f("fk_marks_upload_id_uploads")
        ),
        sa.PrimaryKeyConstraint("school_urn", "date", "session", "upn", name=op.f("pk_marks")),
    )
    op.create_table(
        "pupils",
        sa.Column("school_urn", sa.Integer(), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("forename", sa.String(length=100), nullable=False),
        sa.Column("surname", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("year_group", sa.SmallInteger(), nullable=True),
        sa.Column("fsm", sa.Boolean(), nullable=True),
        sa.Column("sen", sa.String(length=1), nullable=True),
        sa.Column("eal", sa.Boolean(), nullable=True),
        sa.Column("ethnicity", sa.String(length=40), nullable=True),
        sa.Column("entry_date", sa.Date(), nullable=True),
        sa.Column("leaving_date", sa.Date(), nullable=True),
        sa.Column("roster_upload_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["roster_upload_id"], ["uploads.id"], name=op.f("fk_pupils_roster_upload_id_uploads")
        ),
        sa.ForeignKeyConstraint(
            ["school_urn"], ["schools.urn"], name=op.f("fk_pupils_school_urn_schools")
        ),
        sa.PrimaryKeyConstraint("school_urn", "upn", name=op.f("pk_pupils")),
    )


def downgrade() -> None:

    op.drop_table("pupils")
    op.drop_table("marks")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_uploads_school_kind_sha")

    op.drop_table("uploads")
    op.drop_table("trajectories")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index("ix_scores_list")

    op.drop_table("scores")
    op.drop_table("score_runs")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_school_status")

    op.drop_table("referrals")
    with op.batch_alter_table("enrolment_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_enrolment_totals_upn_year")

    op.drop_table("enrolment_totals")
    op.drop_table("api_key_schools")
    op.drop_table("schools")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_at")

    op.drop_table("audit_events")
    op.drop_table("api_keys")
