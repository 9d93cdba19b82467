"""On PostgreSQL, a trigger that rejects UPDATE and DELETE on audit events, whoever sends them.

The model, its queryset and the admin already refuse changes; the trigger closes the door for raw SQL, a
``dbshell`` session and any other client of the database. It raises SQLSTATE 23001 (restrict_violation),
which Django reports as ``IntegrityError``. TRUNCATE is not covered (it fires no row triggers): it needs the
table owner's privilege, and the test runner uses it to empty tables between transactional tests.

SQLite gets no trigger: Django empties SQLite tables between transactional tests with DELETE, which such a
trigger would refuse.
"""

from django.db import migrations

CREATE_SQL = """
CREATE OR REPLACE FUNCTION audit_auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on audit_auditevent is refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse_change();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_refuse_change();
"""


def _run_on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # No parameters: the SQL holds a literal "%" (the RAISE format), which must not read as a placeholder.
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(_run_on_postgresql(CREATE_SQL), _run_on_postgresql(DROP_SQL), elidable=False),
    ]
