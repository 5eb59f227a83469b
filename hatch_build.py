"""Build hook: the package's long description is README.md with its relative links spelled out.

The package index shows the README without the repository around it, so a link to
``docs/launcher.md`` would go nowhere there; in the description it reads "... (docs/launcher.md,
in the source distribution)" instead. Links to web addresses stay links.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

from hatchling.metadata.plugin.interface import MetadataHookInterface

LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def long_description(readme: str) -> str:
    """``readme`` with every relative markdown link replaced by its text and the file it names."""

    def spell_out(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            return match.group(0)
        path = target.split("#", 1)[0]
        if text.strip("`") == path:
            return f"`{path}` (in the source distribution)"
        return f"{text} (`{path}`, in the source distribution)"

    return LINK.sub(spell_out, readme)


class ReadmeHook(MetadataHookInterface):
    def update(self, metadata: Dict[str, Any]) -> None:
        readme = (Path(self.root) / "README.md").read_text(encoding="utf-8")
        metadata["readme"] = {"content-type": "text/markdown", "text": long_description(readme)}
