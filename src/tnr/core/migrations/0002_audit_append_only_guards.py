"""Database triggers that refuse UPDATE and DELETE on the audit log (SQLite and PostgreSQL).

They stop plain SQL through the application's own database account from rewriting history;
a database superuser can still drop them, which the hash chain then detects (docs/audit.md).
The SQL lives beside the models (``tnr.core.models``) because ``tnr flush`` re-installs it.
"""

from django.db import migrations


def install(apps, schema_editor):
    from tnr.core.models import install_append_only_guards

    install_append_only_guards(schema_editor.connection)


def remove(apps, schema_editor):
    from tnr.core.models import remove_append_only_guards

    remove_append_only_guards(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(install, remove, elidable=False),
    ]
