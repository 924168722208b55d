"""Figures shared by the notebooks: the book's font sizes (set once, here), image grids with boxes
and masks, class balance, and a method's pipeline drawn as boxes and arrows."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from vsalib.data.images import open_image

#: The smallest font any figure of the book uses (points); figures are drawn at most ~10 in wide, the
#: book's column width, so that this stays legible.
MIN_FONT = 9
plt.rcParams.update({"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": MIN_FONT,
                     "xtick.labelsize": MIN_FONT, "ytick.labelsize": MIN_FONT, "figure.titlesize": 11})


#: The book's column width (inches at 96 px per inch): a wider figure would be scaled down in the browser and
#: its smallest text fall under :data:`MIN_FONT`, so :func:`show` draws it at this width instead.
COLUMN_INCHES = 7.5
_DPI = 150  # drawn sharper than shown (the page shows it at 96 px per inch)


def describe(fig) -> str:
    """Alt text that says what ``fig`` shows: its title(s), and per panel what is plotted against what, with its
    series' names (legend entries), the lines and bars it draws, or the image it shows."""
    import re

    def clean(text: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"\$([^$]*)\$", r"\1", text)).strip()

    parts = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        parts.append(clean(fig._suptitle.get_text()))
    def diagram(ax) -> bool:  # drawn with its axes off: boxes and text (a pipeline)
        return not ax.axison and not ax.images and bool(ax.texts)

    panels = [ax for ax in fig.axes if ax.get_visible() and (ax.axison or ax.images or diagram(ax))]
    for i, ax in enumerate(panels):
        title = "; ".join(t for t in (clean(ax.get_title(loc)) for loc in ("left", "center", "right")) if t)
        x, y = clean(ax.get_xlabel()), clean(ax.get_ylabel())
        what = []
        if diagram(ax):
            bold = [clean(t.get_text()) for t in ax.texts if t.get_fontweight() in ("bold", 700)]
            names = bold or [clean(t.get_text()) for t in ax.texts]
            what.append(f"a diagram of {len(names)} steps: " + " → ".join(names) if len(names) > 1
                        else "a diagram: " + names[0])
        elif ax.images:
            what.append("an image" if not (x or y) else f"a map of {y or 'rows'} by {x or 'columns'}")
        elif x or y:
            what.append(f"{y or 'values'} against {x or 'position'}")
        legend = ax.get_legend()
        names = [clean(t.get_text()) for t in legend.get_texts()] if legend is not None else []
        if names:
            what.append("series: " + ", ".join(names))
        elif ax.patches and not ax.images and not diagram(ax):
            what.append(f"{len(ax.patches)} bars or boxes")
        elif len(ax.lines) > 1:
            what.append(f"{len(ax.lines)} lines")
        text = "; ".join(what)
        if title or text:
            lead = f"panel {i + 1}" if len(panels) > 1 else "the plot"
            parts.append(f"{lead}{': ' + title if title else ''}{' — ' + text if text else ''}")
    return ". ".join(parts) + "." if parts else "A figure."


def show(fig=None, alt: str | None = None) -> str:
    """Display ``fig`` (default: the current figure) in the notebook with an alt text (``alt``, else
    :func:`describe`), at most :data:`COLUMN_INCHES` wide so that its text keeps :data:`MIN_FONT` points on the
    page, then close it. The output carries the PNG and an HTML ``<img>`` with the alt text (the book renders
    the latter). Returns the alt text."""
    import base64
    import html
    import io

    from IPython.display import display

    fig = plt.gcf() if fig is None else fig
    w, h = fig.get_size_inches()
    if w > COLUMN_INCHES:
        fig.set_size_inches(COLUMN_INCHES, h * COLUMN_INCHES / w)
        try:
            fig.tight_layout()
        except (ValueError, RuntimeError):  # a layout engine of its own, or nothing to lay out
            pass
    text = alt or describe(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    from PIL import Image

    width = round(Image.open(io.BytesIO(buf.getvalue())).width * 96 / _DPI)
    display({"image/png": data,
             "text/html": f'<img src="data:image/png;base64,{data}" alt="{html.escape(text)}" width="{width}" '
                          f'style="max-width: 100%; height: auto">',
             "text/plain": f"<figure: {text}>"}, raw=True)
    return text


def pipeline(steps: Sequence[tuple[str, str]], title: str = "", *, per_row: int = 4):
    """A method's pipeline: one box per step (``(name, what it computes)``), arrows between them, at
    most ``per_row`` boxes per row (a long pipeline wraps, the arrow turning down to the next row)."""
    import textwrap

    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    n, per_row = len(steps), min(per_row, len(steps))
    rows = int(np.ceil(n / per_row))
    fig_w = min(10.0, 2.5 * per_row)
    box_w, gap = 1.0, 0.28  # in box widths
    chars = int(2.5 * 0.9 * 11)  # characters per line at MIN_FONT in a box ~2.2 in wide
    texts = [textwrap.fill(what, chars) for _, what in steps]
    lines = max(t.count("\n") + 1 for t in texts)
    box_h = 0.32 + 0.14 * lines  # in inches-per-box-width units (see the aspect below)
    row_gap = 0.3
    width = per_row * box_w + (per_row - 1) * gap
    height = rows * box_h + (rows - 1) * row_gap
    fig, ax = plt.subplots(figsize=(fig_w, fig_w * (height + 0.1) / (width + 0.1) + (0.3 if title else 0.0)))
    ax.set_xlim(-0.05, width + 0.05)
    ax.set_ylim(-0.05, height + 0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    corners = []
    for i, ((name, _), text) in enumerate(zip(steps, texts)):
        r, c = divmod(i, per_row)
        x, y = c * (box_w + gap), height - (r + 1) * box_h - r * row_gap
        ax.add_patch(FancyBboxPatch((x, y), box_w, box_h, boxstyle="round,pad=0.0,rounding_size=0.04",
                                    fc="#EAF1FB", ec="#4C72B0", lw=1.2))
        ax.text(x + box_w / 2, y + box_h - 0.06, name, ha="center", va="top", fontsize=10, fontweight="bold")
        ax.text(x + box_w / 2, y + (box_h - 0.14) / 2, text, ha="center", va="center", fontsize=MIN_FONT,
                linespacing=1.25)
        corners.append((x, y))
    for i in range(n - 1):
        (x0, y0), (x1, y1) = corners[i], corners[i + 1]
        if y0 == y1:  # same row: left to right
            arrow = FancyArrowPatch((x0 + box_w, y0 + box_h / 2), (x1, y1 + box_h / 2), arrowstyle="-|>",
                                    mutation_scale=12, color="#4C72B0", lw=1.2)
        else:  # wrap: from the bottom of the row's last box to the top of the next row's first
            arrow = FancyArrowPatch((x0 + box_w / 2, y0), (x1 + box_w / 2, y1 + box_h), arrowstyle="-|>",
                                    mutation_scale=12, color="#4C72B0", lw=1.2,
                                    connectionstyle="bar,angle=180,fraction=-0.1" if x0 != x1 else "arc3")
        ax.add_patch(arrow)
    if title:
        ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


def image_grid(paths: Sequence[str], titles: Sequence[str] | None = None, *, boxes=None, masks=None,
               ncols: int = 8, thumb: float = 1.6, max_side: int = 256):
    """A grid of images with optional titles, boxes ``(x0, y0, x1, y1)`` and mask outlines."""
    n = len(paths)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(thumb * ncols, thumb * nrows * 1.15), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, path in enumerate(paths):
        ax = axes.ravel()[i]
        im = open_image(path)
        scale = min(1.0, max_side / max(im.size))
        if scale < 1:
            im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
        ax.imshow(im)
        if masks is not None and masks[i] is not None:
            m = np.asarray(open_image(masks[i]).convert("L").resize(im.size)) > 127
            ax.contour(m, levels=[0.5], colors="yellow", linewidths=0.8)
        if boxes is not None and boxes[i] is not None:
            x0, y0, x1, y1 = (float(v) * scale for v in boxes[i])
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="red", lw=1.2))
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=MIN_FONT)
    fig.tight_layout()
    return fig


def class_balance(counts: dict[str, int], title: str = "", ax=None):
    """A bar chart of images per class."""
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3, 0.6 * len(counts) + 1.5), 2.6))
    ax.bar(list(counts), list(counts.values()), color="#4C72B0")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", rotation=45 if len(counts) > 3 else 0)
    return ax
