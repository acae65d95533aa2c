"""Alembic logs each migration's message (the first paragraph of its docstring) as it runs it,
in the log of `evcharge serve`'s first start and of `evcharge db upgrade`."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from central_system.persistence.migrate import alembic_config


def test_every_migration_logs_a_one_line_message() -> None:
    scripts = list(ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions())
    assert len(scripts) >= 8
    for script in scripts:
        assert script.doc and "\n" not in script.doc, script.revision
