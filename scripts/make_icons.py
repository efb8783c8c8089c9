"""Draw the notification icons into ``watchdog/data/icons/`` (PNG for Linux/macOS, ICO for Windows).

Run from the repository root after changing the drawing::

    .venv/bin/python scripts/make_icons.py

The outputs are committed binaries shipped as package data, so the product never needs Pillow
(a dev/test dependency only). Each icon is a white envelope on a rounded square, coloured by
status, with a badge for the status so it reads without colour too (colour-blind staff, grey
themes):

========================  ==========  ============================================
file stem                 colour      badge
========================  ==========  ============================================
``watchdog``              blue        none (the app icon; also PAUSED and TEST)
``watchdog-up``           green       check mark (mail flows again)
``watchdog-down``         red         cross (reminders are not going out)
``watchdog-degraded``     amber       exclamation mark (late, or into junk)
``watchdog-unknown``      grey        dash (we cannot check right now)
========================  ==========  ============================================

Drawn at 4x and scaled down (Lanczos) for smooth edges without any font, so the output does not
depend on the fonts installed on the machine that runs this.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

ICON_DIR = Path(__file__).resolve().parents[1] / "watchdog" / "data" / "icons"

#: Final PNG edge in pixels; notification daemons scale down as they need.
PNG_SIZE = 256
#: Sizes inside the .ico: the shell and the tray pick the nearest one (DPI scaling included).
ICO_SIZES = [(16, 16), (20, 20), (24, 24), (32, 32), (40, 40), (48, 48), (64, 64), (256, 256)]
_SCALE = 4
_CANVAS = PNG_SIZE * _SCALE
_WHITE = (255, 255, 255, 255)
Colour = tuple[int, int, int, int]
Badge = Callable[[ImageDraw.ImageDraw, tuple[int, int], int, Colour], None]


def _check(draw: ImageDraw.ImageDraw, centre: tuple[int, int], r: int, ink: Colour) -> None:
    x, y = centre
    points = [
        (x - r * 0.5, y + r * 0.02),
        (x - r * 0.12, y + r * 0.4),
        (x + r * 0.52, y - r * 0.38),
    ]
    draw.line(points, fill=ink, width=int(r * 0.26), joint="curve")


def _cross(draw: ImageDraw.ImageDraw, centre: tuple[int, int], r: int, ink: Colour) -> None:
    x, y = centre
    d = r * 0.42
    width = int(r * 0.26)
    draw.line([(x - d, y - d), (x + d, y + d)], fill=ink, width=width)
    draw.line([(x - d, y + d), (x + d, y - d)], fill=ink, width=width)


def _exclamation(draw: ImageDraw.ImageDraw, centre: tuple[int, int], r: int, ink: Colour) -> None:
    x, y = centre
    half = r * 0.13
    draw.rounded_rectangle(
        [(x - half, y - r * 0.58), (x + half, y + r * 0.16)], radius=int(half), fill=ink
    )
    draw.ellipse([(x - half, y + r * 0.32), (x + half, y + r * 0.32 + 2 * half)], fill=ink)


def _dash(draw: ImageDraw.ImageDraw, centre: tuple[int, int], r: int, ink: Colour) -> None:
    x, y = centre
    half = r * 0.13
    draw.rounded_rectangle(
        [(x - r * 0.5, y - half), (x + r * 0.5, y + half)], radius=int(half), fill=ink
    )


#: stem → (background colour, badge drawer or None).
ICONS: dict[str, tuple[Colour, Badge | None]] = {
    "watchdog": ((37, 99, 235, 255), None),
    "watchdog-up": ((22, 163, 74, 255), _check),
    "watchdog-down": ((220, 38, 38, 255), _cross),
    "watchdog-degraded": ((217, 119, 6, 255), _exclamation),
    "watchdog-unknown": ((107, 114, 128, 255), _dash),
}


def draw_icon(background: Colour, badge: Badge | None) -> Image.Image:
    """One icon at ``PNG_SIZE``: rounded square, envelope, optional badge (bottom right)."""
    c = _CANVAS
    image = Image.new("RGBA", (c, c), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([(0, 0), (c - 1, c - 1)], radius=int(c * 0.2), fill=background)

    # The envelope: a white card with the flap drawn as a "V" in the background colour.
    left, top, right, bottom = c * 0.16, c * 0.26, c * 0.84, c * 0.72
    draw.rounded_rectangle([(left, top), (right, bottom)], radius=int(c * 0.04), fill=_WHITE)
    flap = [(left + c * 0.03, top + c * 0.04), ((left + right) / 2, top + c * 0.25)]
    flap.append((right - c * 0.03, top + c * 0.04))
    draw.line(flap, fill=background, width=int(c * 0.045), joint="curve")

    if badge is not None:
        # A white ring around the badge separates it from the envelope at small sizes.
        r = int(c * 0.19)
        centre = (int(c * 0.74), int(c * 0.73))
        ring = int(c * 0.035)
        x, y = centre
        draw.ellipse([(x - r - ring, y - r - ring), (x + r + ring, y + r + ring)], fill=_WHITE)
        draw.ellipse([(x - r, y - r), (x + r, y + r)], fill=background)
        badge(draw, centre, r, _WHITE)

    return image.resize((PNG_SIZE, PNG_SIZE), Image.Resampling.LANCZOS)


def write_icons(folder: Path) -> list[Path]:
    """Write every ``<stem>.png`` and ``<stem>.ico`` into ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, (background, badge) in ICONS.items():
        image = draw_icon(background, badge)
        png = folder / f"{stem}.png"
        image.save(png, format="PNG", optimize=True)
        ico = folder / f"{stem}.ico"
        # PNG-compressed entries (Pillow's default) load on Windows Vista and later and keep
        # the file small; plyer loads it with LoadImageW(LR_LOADFROMFILE).
        image.save(ico, format="ICO", sizes=ICO_SIZES)
        written += [png, ico]
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: ``make_icons.py [--out FOLDER]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ICON_DIR, help=f"default: {ICON_DIR}")
    args = parser.parse_args(argv)
    for path in write_icons(args.out):
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
