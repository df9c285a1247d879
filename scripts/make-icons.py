#!/usr/bin/env python3
"""Draws the Teams app icons in manifest/: color.png (192x192) and outline.png
(32x32, white on transparent). Run with Pillow installed; the PNGs are committed.

The picture: two stacked data layers, the primary (solid) and the secondary
(outlined), joined by an arc with an arrowhead: data flowing to the DR region.
"""
import math
import pathlib

from PIL import Image, ImageDraw

HERE = pathlib.Path(__file__).resolve().parent.parent / "manifest"
SS = 8  # supersampling factor for smooth edges


def layer(draw, cx, cy, w, h, fill, outline, width):
    """A flat rhombus: one layer of a data stack, seen from above."""
    pts = [(cx, cy - h / 2), (cx + w / 2, cy), (cx, cy + h / 2), (cx - w / 2, cy)]
    draw.polygon(pts, fill=fill, outline=None)
    if outline:
        draw.line(pts + [pts[0]], fill=outline, width=width, joint="curve")


def stack(draw, cx, top, w, h, gap, fill, outline, width, count=3):
    for i in reversed(range(count)):
        layer(draw, cx, top + i * gap, w, h, fill, outline, width)


def arc_arrow(draw, cx, cy, r, start, end, colour, width, head):
    box = [cx - r, cy - r, cx + r, cy + r]
    draw.arc(box, start=start, end=end, fill=colour, width=width)
    a = math.radians(end)
    tip = (cx + r * math.cos(a), cy + r * math.sin(a))
    # The arrowhead points along the tangent at the arc's end (clockwise in image space).
    tangent = a + math.pi / 2
    left = (tip[0] - head * math.cos(tangent - 0.5), tip[1] - head * math.sin(tangent - 0.5))
    right = (tip[0] - head * math.cos(tangent + 0.5), tip[1] - head * math.sin(tangent + 0.5))
    draw.polygon([(tip[0] + 0.35 * head * math.cos(tangent), tip[1] + 0.35 * head * math.sin(tangent)), left, right], fill=colour)


def color_icon():
    size = 192 * SS
    img = Image.new("RGBA", (size, size))
    draw = ImageDraw.Draw(img)
    # Vertical gradient: deep navy to Azure blue.
    top, bottom = (14, 42, 92), (0, 103, 184)
    for y in range(size):
        t = y / (size - 1)
        draw.line([(0, y), (size, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)) + (255,))
    s = SS
    white = (255, 255, 255, 255)
    orange = (255, 112, 67, 255)
    # Teams crops the colour icon into rounded shapes: keep the symbol inside
    # the central safe area (about 128 of the 192 pixels) by scaling it there.
    k = 0.78

    def at(v):
        return (96 + (v - 96) * k) * s

    stack(draw, at(58), at(100), 72 * k * s, 34 * k * s, 17 * k * s, white, (14, 42, 92, 255), int(3 * k * s))
    stack(draw, at(134), at(100), 72 * k * s, 34 * k * s, 17 * k * s, (28, 98, 168, 255), white, int(5 * k * s))
    arc_arrow(draw, at(96), at(88), 44 * k * s, 205, 325, orange, int(9 * k * s), 20 * k * s)
    return img.resize((192, 192), Image.LANCZOS)


def outline_icon():
    size = 32 * SS
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    s = SS
    white = (255, 255, 255, 255)
    clear = (0, 0, 0, 0)
    # At 32 pixels every line must be at least ~1.5 pixels wide to survive the
    # downscale: two layers per stack, wide gaps, a thick arrow.
    stack(draw, 8.5 * s, 19 * s, 15 * s, 8 * s, 5 * s, white, clear, int(1.8 * s), count=2)
    stack(draw, 23.5 * s, 19 * s, 15 * s, 8 * s, 5 * s, clear, white, int(1.8 * s), count=2)
    arc_arrow(draw, 16 * s, 16 * s, 8.5 * s, 205, 325, white, int(2.4 * s), int(5 * s))
    return img.resize((32, 32), Image.LANCZOS)


if __name__ == "__main__":
    color_icon().convert("RGB").save(HERE / "color.png", optimize=True)
    outline_icon().save(HERE / "outline.png", optimize=True)
    print("wrote", HERE / "color.png", HERE / "outline.png")
