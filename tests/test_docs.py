"""The README stays true: every setting and every command is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback.settings import SETTINGS
from tests.test_cli import COMMANDS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_readme_documents_every_setting(setting) -> None:
    assert f"`{setting.name}`" in README


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=lambda c: " ".join(c))
def test_readme_documents_every_command(command: tuple[str, ...]) -> None:
    assert f"`feedback {' '.join(command)}" in README


def test_readme_opens_with_the_product_and_its_two_commands() -> None:
    head = README[:2000]
    assert "feedback demo" in head
    assert "bash .ci/run" in head
