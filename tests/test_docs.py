"""Documentation the code and docs cite exists in the repository (a newcomer can follow every pointer)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Citations: a path under docs/, a markdown link target, or a name followed by a section sign.
_CITES = (re.compile(r"(?<![\w/.-])(docs/[\w./-]+?\.md)\b"),
          re.compile(r"\]\(([\w./-]+?\.md)(?:#[\w-]*)?\)"),
          re.compile(r"(?<![\w/.-])([\w.-]+\.md) §"))


def _sources() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in ("trafficsim", "tests", "benchmarks", "docs", ".ci"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md") and p.is_file()]
    return files


def test_every_cited_markdown_file_exists():
    missing = []
    for src in _sources():
        text = src.read_text(errors="replace")
        for name in {m for rx in _CITES for m in rx.findall(text)}:
            if not any(c.is_file() for c in (ROOT / name, ROOT / "docs" / name, src.parent / name)):
                missing.append(f"{src.relative_to(ROOT)} cites {name}")
    assert not missing, "\n".join(sorted(missing))


def test_architecture_page_names_files_that_exist():
    """docs/architecture.md is the map of where to make a change: every module, folder and test it names exists."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    names = set(re.findall(r"`([\w/.-]+(?:\.py|/))`", text)) | set(re.findall(r"\(([\w/]+\.py)[,:)]", text))
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
             if ".venv" not in p.parts and ".git" not in p.parts]
    missing = [n for n in sorted(names)
               if not any(f == n.rstrip("/") or f.endswith("/" + n.rstrip("/")) for f in files)]
    assert len(names) > 30 and not missing, missing
