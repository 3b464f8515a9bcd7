"""The bundled CJK font: Noto Sans CJK SC (OFL), registered with matplotlib.

The font comes from the ``noto-cjk-sans-otc`` wheel (an OpenType collection). The
Simplified Chinese face is extracted once into the project cache, so charts never
depend on system fonts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAMILY = "Noto Sans CJK SC"
SC_FACE_INDEX = 2  # JP, KR, SC, TC, HK in Noto's collection


FACE_FILE = "NotoSansCJKsc-Regular.otf"


def font_cache_dir() -> Path:
    """Return where ``--install`` puts the extracted face: in the environment (``make setup``)."""
    return Path(sys.prefix) / "share" / "canvass" / "fonts"


def _user_font_dir() -> Path:
    from canvass.config import user_cache_dir

    return user_cache_dir() / "fonts"


def font_path() -> Path:
    """Return the path of the SC face, extracting it from the collection when missing.

    An environment nobody ran ``--install`` in, and cannot write to, gets the face in the
    user's cache folder instead.
    """
    for folder in (font_cache_dir(), _user_font_dir()):
        if (folder / FACE_FILE).is_file():
            return folder / FACE_FILE
    try:
        return _extract(font_cache_dir() / FACE_FILE)
    except PermissionError:
        return _extract(_user_font_dir() / FACE_FILE)


def _extract(target: Path) -> Path:
    import noto_cjk_sans_otc
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(noto_cjk_sans_otc.FONT_PATH))
    face = collection.fonts[SC_FACE_INDEX]
    if FAMILY not in (face["name"].getDebugName(1) or ""):
        raise RuntimeError(f"unexpected font collection layout: {face['name'].getDebugName(1)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    face.save(str(tmp))
    os.replace(tmp, target)
    return target


_registered = False


def register() -> str:
    """Register the SC face with matplotlib and make it the default; return its family name."""
    global _registered
    import matplotlib
    from matplotlib import font_manager

    if not _registered:
        font_manager.fontManager.addfont(str(font_path()))
        _registered = True
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [FAMILY, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    matplotlib.rcParams["svg.fonttype"] = "path"
    return FAMILY


if __name__ == "__main__":
    if "--install" in sys.argv:
        print(f"CJK font ready: {font_path()}")
