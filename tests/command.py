"""The `leaksentinel` command run inside the test process, through typer's runner: the code the
installed script runs, without the second of interpreter start and imports a subprocess costs.
tests/test_readme.py runs the installed script itself."""

from collections.abc import Mapping
from dataclasses import dataclass

from typer.testing import CliRunner

from cli.main import app


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def leaksentinel(*args: str, env: Mapping[str, str] | None = None, check: bool = False) -> Ran:
    """Runs `leaksentinel ARGS` with `env` over the test's environment, as a subprocess would;
    with `check`, an exit status other than 0 fails the test with what the command printed."""
    result = CliRunner().invoke(app, list(args), env=dict(env or {}), catch_exceptions=False)
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    assert not check or ran.returncode == 0, f"leaksentinel {' '.join(args)}: {ran}"
    return ran
