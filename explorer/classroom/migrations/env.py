"""Alembic environment of the class store: run by :class:`explorer.classroom.ClassStore` at open, on the
connection it passes in ``config.attributes["connection"]``."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
