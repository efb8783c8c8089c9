"""The tray icon's picture (``watchdog.desktop.tray_icon``); its title is in ``test_tray_title.py``.

Pure functions, no display: colours are judged by hue and saturation, not by comparing with the
module's own constants, so a wrong colour fails here.
"""

from __future__ import annotations

import colorsys
from collections import Counter

import pytest
from PIL import Image

from watchdog.core.models import Status
from watchdog.desktop.tray_icon import draw_icon

SIZES = (16, 32, 48, 64)


def rgba_pixels(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Every pixel, row by row (``getdata`` is deprecated in Pillow 13, its successor is new)."""
    data = image.convert("RGBA").tobytes()
    return [(data[i], data[i + 1], data[i + 2], data[i + 3]) for i in range(0, len(data), 4)]


def dominant_colour(image: Image.Image) -> tuple[int, int, int]:
    """The most common colour among the fully opaque pixels: the circle's fill."""
    opaque = [p[:3] for p in rgba_pixels(image) if p[3] == 255]
    colour, _count = Counter(opaque).most_common(1)[0]
    return colour


def hue_and_saturation(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """Hue in degrees (0-360) and saturation (0-1)."""
    h, _l, s = colorsys.rgb_to_hls(*(c / 255 for c in rgb))
    return h * 360, s


def glyph_mask(image: Image.Image) -> set[tuple[int, int]]:
    """Where the white glyph is: near-white, mostly opaque pixels."""
    width = image.size[0]
    return {
        (i % width, i // width)
        for i, p in enumerate(rgba_pixels(image))
        if p[3] > 200 and min(p[:3]) > 215
    }


# --- colours -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_up_is_green_degraded_amber_down_red_at_every_size(size: int) -> None:
    hues = {
        status: hue_and_saturation(dominant_colour(draw_icon(status, size)))
        for status in (Status.UP, Status.DEGRADED, Status.DOWN)
    }
    up_hue, up_sat = hues[Status.UP]
    amber_hue, amber_sat = hues[Status.DEGRADED]
    red_hue, red_sat = hues[Status.DOWN]
    assert 90 <= up_hue <= 160 and up_sat > 0.4, hues
    assert 28 <= amber_hue <= 50 and amber_sat > 0.4, hues
    assert (red_hue <= 12 or red_hue >= 348) and red_sat > 0.4, hues


@pytest.mark.parametrize("status", [Status.UNKNOWN, Status.PAUSED])
def test_unknown_and_paused_are_grey(status: Status) -> None:
    _hue, saturation = hue_and_saturation(dominant_colour(draw_icon(status)))
    assert saturation < 0.15


def test_every_status_but_paused_has_its_own_colour() -> None:
    colours = {
        dominant_colour(draw_icon(status))
        for status in (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN)
    }
    assert len(colours) == 4


# --- sizes and transparency ----------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("size", SIZES)
def test_each_size_gives_a_square_rgba_image_with_transparent_corners_and_an_opaque_middle(
    status: Status, size: int
) -> None:
    image = draw_icon(status, size)
    assert image.size == (size, size)
    assert image.mode == "RGBA"
    last = size - 1
    for corner in ((0, 0), (last, 0), (0, last), (last, last)):
        pixel = image.getpixel(corner)
        assert isinstance(pixel, tuple) and pixel[3] == 0, (corner, pixel)
    # Just inside the left edge, level with the centre: the circle's ring, fully opaque.
    edge = image.getpixel((round(size * 0.1), size // 2))
    assert isinstance(edge, tuple) and edge[3] == 255, edge


def test_a_size_below_one_pixel_is_refused() -> None:
    with pytest.raises(ValueError, match="positive size"):
        draw_icon(Status.UP, 0)


# --- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_the_glyph_still_shows_at_every_size(size: int) -> None:
    for status in Status:
        glyph = glyph_mask(draw_icon(status, size))
        # At 16 px a two-pixel stroke leaves well over four nearly white pixels.
        assert len(glyph) >= max(4, size * size // 40), (status, size, len(glyph))


def test_paused_and_unknown_are_the_same_grey_but_a_different_shape() -> None:
    paused, unknown = draw_icon(Status.PAUSED), draw_icon(Status.UNKNOWN)
    assert dominant_colour(paused) == dominant_colour(unknown)
    a, b = glyph_mask(paused), glyph_mask(unknown)
    differing = len(a ^ b)
    assert differing > 0.5 * min(len(a), len(b)), (len(a), len(b), differing)


def test_every_status_has_its_own_shape() -> None:
    masks = {status: frozenset(glyph_mask(draw_icon(status))) for status in Status}
    statuses = list(Status)
    for i, first in enumerate(statuses):
        for second in statuses[i + 1 :]:
            overlap = len(masks[first] & masks[second])
            union = len(masks[first] | masks[second])
            assert overlap / union < 0.6, (first, second, overlap / union)
