"""Alembic's entry point for the PostGIS registry: migrations run on the connection `stationmap.store.postgis` hands over.

Under a transaction-level advisory lock, so that workers opening a new database together migrate it one
at a time: the others wait, then find the schema at head."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

_LOCK = "SELECT pg_advisory_xact_lock(1398033744, 0)"  # ('STMP', 0): the migrators' lock

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: the URL comes from the config
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            connection.execute(text(_LOCK))
            context.run_migrations()
else:
    context.configure(connection=connection)
    with context.begin_transaction():
        connection.execute(text(_LOCK))
        context.run_migrations()
