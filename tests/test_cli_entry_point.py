"""The installed `stationmap` command, run as a real process (the other CLI tests run main() in process)."""
import shutil
import subprocess
import sys
from pathlib import Path


def _console_script() -> str:
    beside = Path(sys.executable).with_name("stationmap")  # .venv/bin/stationmap, written by pip install
    found = str(beside) if beside.exists() else shutil.which("stationmap")
    assert found, "no `stationmap` console script: install the package (make setup)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_console_script(), *args], capture_output=True, text=True, timeout=120)


def test_installed_command_lists_its_commands():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: stationmap ") and proc.stderr == ""
    for command in ("nearest", "coverage", "gaps", "suggest", "import", "export", "render", "serve", "user", "audit"):
        assert f"  {command} " in proc.stdout, command


def test_installed_command_reports_bad_usage_in_one_line(tmp_path):
    """The console script's target is main(): one `error:` line naming the command, exit 2, no traceback."""
    proc = _run("user", "add", "bob", "--role", "boss", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "'boss'" in proc.stderr and "(see 'stationmap user add --help')" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created
