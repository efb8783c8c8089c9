"""The one way benchmarks put their figures into docs/performance.md: a block between markers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "performance.md"


def write_block(begin: str, end: str, block: str, *, heading: str = "", new_file: str = "") -> None:
    """Replace the text between ``begin`` and ``end`` with ``block``.

    Without the markers yet, the block is appended under ``heading``; without the file,
    it starts as ``new_file``. The rest of the page (other benchmarks' blocks, prose) is kept.
    """
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else new_file
    generated = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + generated + tail
    else:
        title = f"\n\n{heading}\n\n" if heading else "\n\n"
        text = text.rstrip("\n") + title + generated + "\n"
    DOCS.write_text(text, encoding="utf-8")
    print(f"wrote {DOCS.relative_to(ROOT)}")
