"""The station registry: stations with a geography point and a GiST index, the registry's state and its write log.

Revision ID: 0001
Revises:
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("""
        CREATE TABLE stations (
            id text PRIMARY KEY,
            name text NOT NULL,
            kind text NOT NULL,
            status text NOT NULL,
            lat double precision NOT NULL,
            lon double precision NOT NULL,
            district text NOT NULL DEFAULT '',
            township text NOT NULL DEFAULT '',
            address text NOT NULL DEFAULT '',
            hours text NOT NULL DEFAULT '',
            amenities text NOT NULL DEFAULT '[]',
            host text NOT NULL DEFAULT '',
            phone text NOT NULL DEFAULT '',
            honours text NOT NULL DEFAULT '[]',
            year_opened integer NOT NULL DEFAULT -1,
            demo integer NOT NULL DEFAULT 0,
            features text NOT NULL DEFAULT '[]',
            location_source text NOT NULL DEFAULT '',
            last_verified text NOT NULL DEFAULT '',
            geog geography(Point, 4326) NOT NULL
        )""")
    op.execute("CREATE INDEX stations_geog ON stations USING gist (geog)")
    op.execute("CREATE TABLE registry_state (one integer PRIMARY KEY CHECK (one = 1), generation text NOT NULL)")
    op.execute("INSERT INTO registry_state VALUES (1, md5(random()::text || clock_timestamp()::text))")
    op.execute("CREATE TABLE registry_log (rev bigserial PRIMARY KEY, station_id text NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE registry_log")
    op.execute("DROP TABLE registry_state")
    op.execute("DROP TABLE stations")
