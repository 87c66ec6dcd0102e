"""Prompt templates: `prompts/*.md` beside this module, one file each, versioned in front matter.

The files ship as package data, so a non-editable install finds them too.

File format::

    ---
    name: user_summary
    version: 3
    ---
    ## system
    text with $placeholders
    ## user
    text with $placeholders

A follow-up prompt (a turn added to a conversation already under way) has the `## user`
section only. `$name` placeholders are filled with `string.Template` (braces in JSON examples
stay literal).
Every answer records `name@version` of the prompts it used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from string import Template

import yaml

PROMPTS_DIR = Path(str(files(__name__)))
_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)


class PromptError(Exception):
    """A prompt file is missing, malformed, or a placeholder was not given."""


@dataclass(frozen=True)
class Prompt:
    """One versioned prompt: a system part (empty for a follow-up turn) and a user part."""

    name: str
    version: int
    system: str
    user: str

    @property
    def ref(self) -> str:
        """`name@version`, stored with every answer."""
        return f"{self.name}@{self.version}"

    def render(self, **values: object) -> list[tuple[str, str]]:
        """Chat messages with the placeholders filled; a missing value is an error."""
        try:
            user = [("user", Template(self.user).substitute(values).strip())]
            if not self.system:
                return user
            return [("system", Template(self.system).substitute(values).strip()), *user]
        except KeyError as exc:
            raise PromptError(f"prompt {self.ref}: no value for ${exc.args[0]}") from exc


@lru_cache(maxsize=64)
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> Prompt:
    """Read `prompts/<name>.md`."""
    path = directory / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"prompt file {path} not found") from exc
    if not text.startswith("---\n"):
        raise PromptError(f"{path}: missing front matter (--- name/version ---)")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front) or {}
    if meta.get("name") != name or not isinstance(meta.get("version"), int):
        raise PromptError(f"{path}: front matter needs name: {name} and an integer version")
    parts = _SECTION.split(body)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) not in ({"system", "user"}, {"user"}):
        raise PromptError(f"{path}: needs one '## user' section, after one '## system' section "
                          "unless it is a follow-up turn")
    return Prompt(name=name, version=int(meta["version"]), system=sections.get("system", ""),
                  user=sections["user"])
