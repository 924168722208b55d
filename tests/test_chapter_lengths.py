"""benchmarks/chapter_lengths.py counts a page's words and tables, all and on the main path (folded parts out)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_words_and_tables_of_the_main_path(tmp_path):
    spec = importlib.util.spec_from_file_location("chapter_lengths", ROOT / "benchmarks" / "chapter_lengths.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "x.html").write_text(
        "<html><head><script>var a = 1;</script></head><body><nav>menu words</nav><main><article>"
        "<h1>Title here</h1><p>One two three 4.5 ± 1.0.</p>"
        '<div class="cell tag_hide-input"><div class="cell_input">import x</div>'
        '<div class="cell_output"><table><tr><td>a</td></tr></table></div></div>'
        "<details><summary>More</summary><p>five six</p><table><tr><td>b</td></tr></table></details>"
        '<img src="data:x" alt="a figure"></article></main></body></html>')
    (row,) = mod.measure(tmp_path)
    # main: Title here (2), One two three 4.5 1.0 (5), a (1); folded: More five six b (4); code and menu not prose
    assert row == {"page": "notebooks/x.html", "words": 12, "main words": 8, "tables": 2, "main tables": 1,
                   "figures": 1}
