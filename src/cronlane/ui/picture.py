"""An SVG as a PNG, through resvg (``resvg-py``: a maintained renderer with no system library to
install), with the machine's fonts."""

from __future__ import annotations


def png(svg: str) -> bytes:
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg))
