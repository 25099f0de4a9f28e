"""Run the `stationmap` command in this process, as the installed command runs it, without a new interpreter.

`stationmap(*args, input=..., env=...)` calls the console script's target, `stationmap.cli.main()`
(with its one-line `error: ...` messages and exit codes 1 and 2), under click's CliRunner: stdin from
`input`, extra environment variables (`STATIONMAP_*`) from `env` for this call only, stdout and stderr
apart (`result.stdout`, `result.stderr`; `result.output` is both as a terminal shows them), captured
at the file descriptors so that C libraries' writes (GDAL) count too. An exception that main() lets
through (a traceback for the user) is raised in the test rather than hidden in the result.
The real process is still run by test_cli_entry_point.py (console script) and the render tests.
"""
from __future__ import annotations

import sys
from unittest import mock

from click.testing import CliRunner, Result


class _EntryPoint:
    """What CliRunner.invoke needs of a command (a name and main(args, prog_name)), backed by cli.main()."""

    name = "stationmap"

    def main(self, args, prog_name, **_):
        from stationmap import cli

        with mock.patch.object(sys, "argv", [prog_name, *args]):  # main() reads its arguments from argv
            return cli.main()


def stationmap(*args, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """`stationmap ARGS` in process; result.exit_code is the exit status the shell would see."""
    return CliRunner(capture="fd").invoke(_EntryPoint(), [str(a) for a in args], input=input, env=env,
                                          catch_exceptions=False)
