"""The README walkthrough, run as written against a real server, so the README cannot rot."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MARKER = "<!-- walkthrough -->"
BASE_LINE = "BASE=http://127.0.0.1:8000"
CLI_IN_README = ".venv/bin/leaksentinel"
END_OF_BLOCK = "--- end of walkthrough block {} ---"
STARTUP_SECONDS = 60


def walkthrough_blocks(text: str) -> list[str]:
    """Every ```sh block that directly follows a walkthrough marker, in README order."""
    pattern = re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```"
    return re.findall(pattern, text, flags=re.DOTALL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment without any LeakSentinel setting, pointed at a fresh data dir;
    the server and the walkthrough's CLI calls share it, so they share one database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKSENTINEL_")}
    env["LEAKSENTINEL_DATA_DIR"] = str(data_dir)
    return env


def wait_until_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"the server was not ready within {STARTUP_SECONDS}s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(tmp_path / "data")
    log = tmp_path / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(BIN / "leaksentinel"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(base, process, log)
            yield base, env
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_readme_has_the_walkthrough() -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert len(blocks) == 3
    assert blocks[0].count(BASE_LINE) == 1
    assert "make run" in README.read_text()
    assert "make test" in README.read_text()


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(server: tuple[str, dict[str, str]]) -> None:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the README walkthrough needs {tool}, which is not installed")
    base, env = server
    blocks = walkthrough_blocks(README.read_text())
    script = ["set -euo pipefail"]
    for number, block in enumerate(blocks):
        block = block.replace(BASE_LINE, f"BASE={base}")
        block = block.replace(CLI_IN_README, str(BIN / "leaksentinel"))
        script += [block, f"echo '{END_OF_BLOCK.format(number)}'"]

    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    main, fingerprints_only, crawler, _ = re.split(
        r"--- end of walkthrough block \d ---\n", result.stdout
    )
    # Step 5: one open report whose first source is the gossip page.
    assert '"status": "open"' in main
    assert '"page_url": "https://gossip.example.com/2025/first-look"' in main
    assert '"sightings_count": 1' in main
    # Step 7, the walkthrough's last line: the leak is now confirmed.
    assert main.rstrip("\n").splitlines()[-1] == "confirmed"
    # The hash-only registration made an asset from fingerprints alone.
    assert '"source": "fingerprints"' in fingerprints_only
    assert '"status": "active"' in fingerprints_only
    # A retried hash-only request answers the first receipt again; the batch copy is a duplicate.
    first, retry, batch, leak, verified = crawler.strip("\n").splitlines()
    assert first == retry and '"created":1' in first
    assert batch == '{"filename":"leaked-copy.jpg","outcome":"duplicate"}'
    assert '"sightings_count":2' in leak
    assert verified == "chain intact: 2 records, head 2"
