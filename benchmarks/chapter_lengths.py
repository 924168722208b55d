"""How long each page of a built book is for a reader: its words and tables, all of them and on the main path
(outside folded parts: ``<details>``, toggled cell inputs, dropdowns), and its figures.

    .venv/bin/python benchmarks/chapter_lengths.py [book/_build/html] [--json out.json]

The book test builds into a temporary folder; point this script at it (or at ``book/_build/html`` after
``make book``) to get the figures of a closing note. Issue 35 asks for a main path of at most about 4,000
words and 10 tables per chapter.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

FOLDED_CLASSES = ("toggle-details", "dropdown", "tag_hide-output", "tag_hide-cell")  # hide-input folds code only
SKIPPED = ("script", "style", "nav", "header", "footer")


class _Page(HTMLParser):
    """Counts the words and tables of the article, and which of them sit inside a folded part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, folded, skipped) per open element
        self.in_article = 0
        self.words = self.main_words = self.tables = self.main_tables = self.figures = 0

    def _folded(self) -> bool:
        return any(f for _, f, _ in self.stack)

    def _skipped(self) -> bool:
        return any(s for _, _, s in self.stack)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = a.get("class") or ""
        folded = tag == "details" or any(c in classes for c in FOLDED_CLASSES)
        skipped = tag in SKIPPED or "cell_input" in classes  # code is not prose
        if tag in ("img", "br", "hr", "meta", "link", "input"):  # void elements
            if tag == "img" and self.in_article:
                self.figures += 1
            return
        if tag == "article" or (tag == "main"):
            self.in_article += 1
        self.stack.append((tag, folded, skipped))
        if tag == "table" and self.in_article:
            self.tables += 1
            self.main_tables += not self._folded()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if tag in ("article", "main"):
            self.in_article = max(0, self.in_article - 1)

    def handle_data(self, data):
        if not self.in_article or self._skipped():
            return
        n = len(re.findall(r"[^\W\d_][\w'’-]*|\d+(?:[.,]\d+)*", data))
        self.words += n
        self.main_words += 0 if self._folded() else n


def measure(html_dir: Path) -> list[dict]:
    """One row per page under ``notebooks/`` and the book's own pages: words and tables, all and unfolded."""
    rows = []
    for page in sorted(html_dir.rglob("*.html")):
        if page.parent.name in ("_static", "_sources") or page.name in ("genindex.html", "search.html"):
            continue
        p = _Page()
        p.feed(page.read_text(encoding="utf-8"))
        rows.append({"page": str(page.relative_to(html_dir)), "words": p.words, "main words": p.main_words,
                     "tables": p.tables, "main tables": p.main_tables, "figures": p.figures})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", nargs="?", default="book/_build/html")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    html = Path(args.html)
    if not html.is_dir():
        print(f"{html} is not a built book (run `make book`, or give the folder the book test built)", file=sys.stderr)
        return 2
    rows = measure(html)
    width = max(len(r["page"]) for r in rows) if rows else 4
    print(f"{'page':<{width}}  words  main  tables  main  figures")
    for r in rows:
        print(f"{r['page']:<{width}}  {r['words']:5d}  {r['main words']:4d}  {r['tables']:6d}  {r['main tables']:4d}  "
              f"{r['figures']:7d}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
