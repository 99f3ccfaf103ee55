"""Alembic environment: runs on the connection handed over by goodstanding.migrations."""

from alembic import context

from goodstanding.stores.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `goodstanding migrate`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
