"""The tray icon's picture, drawn with Pillow at run time (no image files to ship or lose).

One shape per status, so the icon reads at a glance even for a colour-blind person: a filled
circle in the status colour with a white glyph. UP is a green check, DEGRADED an amber
exclamation mark, DOWN a red cross, UNKNOWN a grey question mark and PAUSED grey pause bars.

Everything is drawn at four times the requested size and scaled down by averaging each 4 x 4
block (a BOX filter): Pillow's primitives are not anti-aliased, and drawing small directly gives
jagged, lopsided glyphs at 16 px, the size Windows and most Linux panels use. BOX rather than
LANCZOS because LANCZOS rings: it left a faint see-through halo (alpha 252) inside the circle
and no two fill pixels alike at 16 px, so the icon looked smudged; averaging gives exact edge
coverage and a flat fill.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from watchdog.core.models import Status

__all__ = ["GLYPH_COLOUR", "STATUS_COLOURS", "draw_icon"]

#: The fill of the circle per status (RGB). PAUSED shares UNKNOWN's grey: both mean "we do not
#: know right now", and the glyph tells them apart.
STATUS_COLOURS: dict[Status, tuple[int, int, int]] = {
    Status.UP: (46, 160, 67),
    Status.DEGRADED: (230, 145, 0),
    Status.DOWN: (214, 40, 40),
    Status.UNKNOWN: (125, 131, 140),
    Status.PAUSED: (125, 131, 140),
}

#: The glyph colour on every status.
GLYPH_COLOUR = (255, 255, 255)

#: Drawn this many times larger, then scaled down (anti-aliasing by supersampling).
_SUPERSAMPLE = 4

#: The circle's radius as a fraction of the size: a little margin so the circle is not clipped
#: flat at the edges and the corners stay fully transparent.
_RADIUS = 0.46

Point = tuple[float, float]


def draw_icon(status: Status, size: int = 64) -> Image.Image:
    """The icon for ``status`` as a ``size`` x ``size`` RGBA image on a transparent background."""
    if size < 1:
        raise ValueError(f"an icon needs a positive size, not {size}")
    big = size * _SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fill = STATUS_COLOURS[status]

    # A darker ring keeps the circle's edge visible on a panel of a similar colour.
    centre = big / 2
    radius = big * _RADIUS
    draw.ellipse(_box(centre, centre, radius), fill=_darker(fill))
    draw.ellipse(_box(centre, centre, radius - big * 0.045), fill=fill)

    # Glyph strokes are thick: at 16 px a stroke of 0.12 is about two pixels wide.
    stroke = big * 0.12
    glyph = _GLYPHS[status]
    glyph(draw, big, stroke)

    # Pillow resizes RGBA with premultiplied alpha, so transparent pixels do not bleed black.
    return image.resize((size, size), Image.Resampling.BOX)


# --- glyphs: each draws in a square of side ``s`` with coordinates given as fractions of it ----


def _check(draw: ImageDraw.ImageDraw, s: float, w: float) -> None:
    _polyline(draw, s, w, [(0.29, 0.52), (0.44, 0.67), (0.72, 0.36)])


def _cross(draw: ImageDraw.ImageDraw, s: float, w: float) -> None:
    _polyline(draw, s, w, [(0.34, 0.34), (0.66, 0.66)])
    _polyline(draw, s, w, [(0.66, 0.34), (0.34, 0.66)])


def _exclamation(draw: ImageDraw.ImageDraw, s: float, w: float) -> None:
    _polyline(draw, s, w, [(0.5, 0.25), (0.5, 0.55)])
    _dot(draw, s, (0.5, 0.74), w * 0.62)


def _question(draw: ImageDraw.ImageDraw, s: float, w: float) -> None:
    # The hook: an arc from nine o'clock over the top round to six o'clock, then a short stem.
    cx, cy, r = 0.5 * s, 0.37 * s, 0.12 * s
    draw.arc(_box(cx, cy, r + w / 2), start=180, end=450, fill=GLYPH_COLOUR, width=round(w))
    _dot(draw, s, (0.5 - r / s, cy / s), w / 2)  # round the hook's open end
    _polyline(draw, s, w, [(0.5, 0.49), (0.5, 0.56)])
    _dot(draw, s, (0.5, 0.76), w * 0.62)


def _pause(draw: ImageDraw.ImageDraw, s: float, w: float) -> None:
    bar = w * 1.1
    for x in (0.39, 0.61):
        left = x * s - bar / 2
        draw.rounded_rectangle(
            (left, 0.3 * s, left + bar, 0.7 * s), radius=bar / 3, fill=GLYPH_COLOUR
        )


_GLYPHS = {
    Status.UP: _check,
    Status.DEGRADED: _exclamation,
    Status.DOWN: _cross,
    Status.UNKNOWN: _question,
    Status.PAUSED: _pause,
}


# --- helpers ------------------------------------------------------------------------------------


def _box(cx: float, cy: float, r: float) -> tuple[float, float, float, float]:
    return (cx - r, cy - r, cx + r, cy + r)


def _darker(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    return (r * 3 // 4, g * 3 // 4, b * 3 // 4)


def _polyline(draw: ImageDraw.ImageDraw, s: float, w: float, points: Sequence[Point]) -> None:
    """A thick line with round joints and round caps (Pillow's own caps are square)."""
    xy = [(x * s, y * s) for x, y in points]
    draw.line(xy, fill=GLYPH_COLOUR, width=round(w), joint="curve")
    for x, y in (xy[0], xy[-1]):
        draw.ellipse(_box(x, y, w / 2), fill=GLYPH_COLOUR)


def _dot(draw: ImageDraw.ImageDraw, s: float, at: Point, r: float) -> None:
    draw.ellipse(_box(at[0] * s, at[1] * s, r), fill=GLYPH_COLOUR)
