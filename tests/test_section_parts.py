"""A chapter's real-benchmark section shown in two cells, its main path and its folded rest (issue 35): the two
parts hold every object the whole section shows, each once; each part keeps the section's order (what is folded
moves below the main path, e.g. MultiLevelRCNN's hand-crafted rows, which the whole section shows first)."""

from __future__ import annotations

import pytest

from vsalib import chapters, published, real_benchmarks, sections


def _key(obj) -> str:
    """What a displayed object shows, comparable between two renderings (a Styler's HTML carries random ids)."""
    data = getattr(obj, "data", obj)
    if hasattr(data, "to_csv"):
        return f"{type(obj).__name__}:{data.to_csv()}"
    return f"{type(obj).__name__}:{data}"


@pytest.fixture
def shown(monkeypatch):
    import IPython.display

    out: list[str] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: out.extend(_key(o) for o in objs))
    return out


@pytest.mark.parametrize("chapter", ["sun2016", "multilevel-rcnn"])
def test_main_and_rest_together_are_the_whole_section(chapter, shown):
    if not len(published.load()):
        pytest.skip("no published snapshot")
    real_benchmarks.section(chapter)
    whole = list(shown)
    shown.clear()
    real_benchmarks.section(chapter, part="main")
    main = list(shown)
    shown.clear()
    real_benchmarks.rest(chapter)
    rest = list(shown)
    assert main and rest and sorted(main + rest) == sorted(whole)  # nothing lost, nothing twice

    def in_order(part):
        it = iter(whole)
        return all(any(x == y for y in it) for x in part)

    assert in_order(main) and in_order(rest)
    assert not sections.folded_now()  # the next section starts on the main path
    assert chapters.get(chapter) is not None


def test_folded_parts_nest_and_reset():
    sections.reset_fold()
    assert not sections.folded_now()
    with sections.folded():
        with sections.folded():
            assert sections.folded_now()
        assert sections.folded_now()
    assert not sections.folded_now()
    sections.fold_from_here()
    assert sections.folded_now()
    sections.reset_fold()
    assert not sections.folded_now()
    with pytest.raises(ValueError, match="part must be None, 'main' or 'rest'"):
        real_benchmarks.section("sun2016", part="tail")
