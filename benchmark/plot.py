"""Line charts as PNG for `make tune` and `make cost`: a left axis, an optional right one,
either on a logarithmic scale. Drawn with Pillow (one wheel, no dependencies of its own;
matplotlib would bring numpy and eight more packages for the same two charts)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1000, 560
MARGIN = {"left": 90, "right": 110, "top": 50, "bottom": 110}
# Colour-blind-safe (Okabe-Ito), dashes apart for print in grey.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


class Axis(NamedTuple):
    label: str
    series: Mapping[str, Sequence[float]]
    log: bool = False


def _scale(values: Sequence[float], log: bool) -> tuple[float, float]:
    low, high = min(values), max(values)
    if log:
        return math.floor(math.log10(low)), math.ceil(math.log10(high))
    return 0.0, high * 1.1 if high > 0 else 1.0


def _ticks(low: float, high: float, log: bool) -> list[float]:
    if log:
        return [10.0**p for p in range(int(low), int(high) + 1)]
    step = 10 ** math.floor(math.log10((high - low) / 5 or 1))
    while (high - low) / step > 8:
        step *= 2
    return [low + step * n for n in range(int((high - low) / step) + 1)]


def _label(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e4:
        return f"{value / 1e3:.3g}k"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def line_chart(
    path: Path,
    *,
    title: str,
    x_label: str,
    x: Sequence[float],
    left: Axis,
    right: Axis | None = None,
    x_log: bool = False,
    marker: tuple[float, str] | None = None,
) -> None:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=13)
    x0, x1 = MARGIN["left"], WIDTH - MARGIN["right"]
    y0, y1 = HEIGHT - MARGIN["bottom"], MARGIN["top"]
    draw.text((x0, 8), title, fill="black", font=font)
    draw.rectangle((x0, y1, x1, y0), outline="black")

    def position(value: float, low: float, high: float, log: bool) -> float:
        v = math.log10(value) if log else value
        return (v - low) / ((high - low) or 1)

    x_low, x_high = (math.log10(min(x)), math.log10(max(x))) if x_log else (min(x), max(x))
    labelled = -math.inf
    for value in x:
        px = x0 + position(value, x_low, x_high, x_log) * (x1 - x0)
        draw.line((px, y0, px, y0 + 5), fill="black")
        if px - labelled >= 48:  # labels that would touch are left out
            draw.text((px, y0 + 8), _label(value), fill="black", font=small, anchor="ma")
            labelled = px
    if marker is not None:
        px = x0 + position(marker[0], x_low, x_high, x_log) * (x1 - x0)
        draw.line((px, y1, px, y0), fill="#777777", width=1)
        draw.text((px + 4, y1 + 4), marker[1], fill="#444444", font=small)
    draw.text(((x0 + x1) / 2, y0 + 30), x_label, fill="black", font=font, anchor="ma")

    colours = iter(COLOURS)
    legend: list[tuple[str, str]] = []
    for axis, side in ((left, "left"), (right, "right")):
        if axis is None:
            continue
        values = [v for series in axis.series.values() for v in series if not axis.log or v > 0]
        low, high = _scale(values, axis.log)
        edge = x0 if side == "left" else x1
        for tick in _ticks(low, high, axis.log):
            py = y0 - position(tick, low, high, axis.log) * (y0 - y1)
            if side == "left":
                draw.line((x0, py, x1, py), fill="#e6e6e6")
            draw.text(
                (edge - 8 if side == "left" else edge + 8, py),
                _label(tick),
                fill="black",
                font=small,
                anchor="rm" if side == "left" else "lm",
            )
        draw.text(
            (edge, y1 - 4), axis.label, fill="black", font=font, anchor="ld" if side == "left" else "rd"
        )
        for name, series in axis.series.items():
            colour = next(colours)
            points = [
                (
                    x0 + position(xv, x_low, x_high, x_log) * (x1 - x0),
                    y0 - position(yv, low, high, axis.log) * (y0 - y1),
                )
                for xv, yv in zip(x, series, strict=True)
                if not axis.log or yv > 0
            ]
            draw.line(points, fill=colour, width=3)
            for px, py in points:
                draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
            legend.append((f"{name} ({side} axis)" if right is not None else name, colour))
    for n, (name, colour) in enumerate(legend):
        lx = x0 + (n % 3) * 270
        ly = HEIGHT - 40 + (n // 3) * 18
        draw.line((lx, ly + 7, lx + 24, ly + 7), fill=colour, width=3)
        draw.text((lx + 30, ly), name, fill="black", font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
