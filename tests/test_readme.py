"""The walkthrough, run as written against a real server, so the README and docs cannot rot.

It starts in README.md (one block) and goes on in the docs/ pages, read in the order the README's
"Where to read on" list links them; every block runs in one shell, in that order."""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.server import Server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
READ_ON = "## Where to read on"
BIN = Path(sys.executable).parent
MARKER = "<!-- walkthrough -->"
BASE_LINE = "BASE=http://127.0.0.1:8000"
CLI_IN_README = ".venv/bin/leaksentinel"
END_OF_BLOCK = "--- end of walkthrough block {} ---"
STARTUP_SECONDS = 60


def walkthrough_blocks(text: str) -> list[str]:
    """Every ```sh block that directly follows a walkthrough marker, in the page's order."""
    pattern = re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```"
    return re.findall(pattern, text, flags=re.DOTALL)


def docs_in_reading_order() -> list[Path]:
    """The docs/ pages in the order the README's "Where to read on" list links them."""
    readme = README.read_text()
    assert READ_ON in readme, f"the README has no {READ_ON!r} section"
    section = readme.split(READ_ON, 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"\]\(docs/([\w.-]+\.md)\)", section)
    return [DOCS / name for name in dict.fromkeys(names)]


def all_walkthrough_blocks() -> list[tuple[str, str]]:
    """(page, block) for every walkthrough block: the README's, then the docs' in reading order."""
    pages = [README, *docs_in_reading_order()]
    return [
        (str(page.relative_to(ROOT)), block)
        for page in pages
        for block in walkthrough_blocks(page.read_text())
    ]


def clean_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment without any LeakSentinel setting, pointed at a fresh data dir;
    the server and the walkthrough's CLI calls share it, so they share one database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKSENTINEL_")}
    env["LEAKSENTINEL_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = clean_env(tmp_path / "data")
    running = Server(env, tmp_path / "server.log", inherit_env=False)
    running.start(timeout=STARTUP_SECONDS)
    try:
        yield running.base_url, env
    finally:
        running.stop()


def test_readme_has_the_walkthrough() -> None:
    readme = README.read_text()
    blocks = walkthrough_blocks(readme)
    assert len(blocks) == 1
    assert blocks[0].count(BASE_LINE) == 1
    assert "make run" in readme
    assert "make test" in readme


def test_docs_continue_the_walkthrough() -> None:
    listed = docs_in_reading_order()
    assert all(page.is_file() for page in listed), listed
    # Every docs page with a walkthrough block is in the reading order, so none is left out.
    with_blocks = {page for page in DOCS.rglob("*.md") if MARKER in page.read_text()}
    assert with_blocks <= set(listed), sorted(with_blocks - set(listed))
    for page in [README, *listed]:
        text = page.read_text()
        # A marker not directly followed by a ```sh block would be skipped without a word.
        assert text.count(MARKER) == len(walkthrough_blocks(text)), page
    pages = [page for page, _ in all_walkthrough_blocks()]
    assert pages == ["README.md", "docs/concepts.md", "docs/crawler-api.md"]
    # The server's address is set once, in the README's block; the rest reuse its shell.
    assert all(BASE_LINE not in block for _, block in all_walkthrough_blocks()[1:])


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(server: tuple[str, dict[str, str]]) -> None:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the README walkthrough needs {tool}, which is not installed")
    base, env = server
    blocks = [block for _, block in all_walkthrough_blocks()]
    assert len(blocks) == 3
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
