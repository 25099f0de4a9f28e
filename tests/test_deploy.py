"""The production set-up in deploy/ says what the README's "Production" section says, and runs what exists:
the compose file parses and names the servers, settings and checks; the systemd unit's commands are this
repository's; the gunicorn settings are gunicorn's."""
from __future__ import annotations

import configparser
import re
import runpy
import shlex
from pathlib import Path

import pytest

from stationmap.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PRODUCTION = README.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
SETTING_VARS = {f"STATIONMAP_{s.name.upper()}" for s in SETTINGS}
GUNICORN_VARS = {"WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_LOG_LEVEL"}  # read by deploy/gunicorn.conf.py
APP_COMMAND = ["gunicorn", "-c", "deploy/gunicorn.conf.py", "web:create_app()"]


@pytest.fixture(scope="module")
def compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_has_the_servers_checks_and_settings_the_readme_names(compose):
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "app"}
    for name in ("db", "redis", "migrate", "app"):
        assert f"`{name}`" in PRODUCTION
    assert "postgis" in services["db"]["image"] and "redis" in services["redis"]["image"]
    for name in ("db", "redis", "app"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["app"]["healthcheck"]["test"])
    app = services["app"]
    assert app["command"] == APP_COMMAND and app["environment"]["WEB_CONCURRENCY"] == "2"
    assert services["migrate"]["command"] == ["stationmap", "db", "upgrade"]
    assert app["depends_on"] == {"migrate": {"condition": "service_completed_successfully"},
                                 "db": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    env = app["environment"]
    named = set(re.findall(r"`(STATIONMAP_[A-Z_]+)`", PRODUCTION))
    assert {"STATIONMAP_DATABASE_URL", "STATIONMAP_REDIS_URL", "STATIONMAP_PROXY_COUNT", "STATIONMAP_PUBLIC_URL",
            "STATIONMAP_ALLOWED_HOSTS"} <= named
    assert named - {"STATIONMAP_DATA_DIR"} <= set(env)  # what the README explains is what compose sets
    assert {k for k in env if k.startswith("STATIONMAP_")} <= SETTING_VARS
    assert set(env) - SETTING_VARS <= GUNICORN_VARS
    assert env["STATIONMAP_DATABASE_URL"].startswith("postgresql://") and "@db:" in env["STATIONMAP_DATABASE_URL"]
    assert env["STATIONMAP_REDIS_URL"] == "redis://redis:6379/0"
    build = services["migrate"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert cmd and __import__("json").loads(cmd.group(1)) == APP_COMMAND


def test_the_systemd_units_commands_are_this_repositorys():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "systemd" / "stationmap.service", encoding="utf-8")
    service = unit["Service"]
    home = service["WorkingDirectory"]

    def here(path: str) -> Path:  # the installed path, in this checkout
        return ROOT / path.removeprefix(home).lstrip("/")

    start = shlex.split(service["ExecStart"])
    assert start[0].startswith(home + "/") and here(start[0]).is_file()  # .venv/bin/gunicorn (make setup)
    assert start[1:] == APP_COMMAND[1:]
    assert (ROOT / start[2]).is_file()
    module, _, call = start[3].partition(":")
    assert (ROOT / module / "__init__.py").is_file() and call == "create_app()"
    assert "def create_app(" in (ROOT / module / "__init__.py").read_text(encoding="utf-8")
    migrate = re.search(rf"exec ({re.escape(home)}/\S+) db upgrade", service["ExecStartPre"])
    assert migrate and here(migrate.group(1)).is_file()
    assert "stationmap.env" in service["EnvironmentFile"]
    example = (DEPLOY / "systemd" / "stationmap.env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    assert {"STATIONMAP_DATABASE_URL", "STATIONMAP_REDIS_URL", "STATIONMAP_PUBLIC_URL"} <= names
    assert names <= SETTING_VARS | GUNICORN_VARS


def test_the_gunicorn_settings_are_gunicorns(monkeypatch):
    from gunicorn.config import Config

    for var in GUNICORN_VARS:
        monkeypatch.delenv(var, raising=False)
    values = {k: v for k, v in runpy.run_path(str(DEPLOY / "gunicorn.conf.py")).items()
              if not k.startswith("_") and k != "os"}
    cfg = Config()
    for key, value in values.items():
        cfg.set(key, value)  # an unknown name or a bad value raises
    assert cfg.workers == 2 and cfg.bind == ["0.0.0.0:8000"]
