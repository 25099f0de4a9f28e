"""Documentation that is checked: every setting is in the README's configuration table."""
from pathlib import Path

from stationmap.config import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [s.name for s in SETTINGS if f"`STATIONMAP_{s.name.upper()}`" not in README]
    assert not missing


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()[1:]] == ["make run", "make test"]
