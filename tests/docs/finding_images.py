"""The example images of docs/findings.md, and what the checks measure on them.

    .venv/bin/python -m tests.docs.finding_images docs/findings

Each is a picture the simulated OC serves (`worker/simulator/scenes.py`), analysed as a decoding
thread of the worker analyses it; the page shows a half-size copy and the measured figures.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from worker.findings.hashing import distance
from worker.findings.imaging import Limits, analyse
from worker.settings import Settings
from worker.simulator.images import render_photo
from worker.simulator.scenes import Effect

CAPTION = "PBO 12 rue des Lilas"
EXAMPLES: tuple[tuple[str, Effect | None], ...] = (
    ("normal", None),
    ("blurred", "blur"),
    ("dark", "dark"),
    ("tiny", "tiny"),
)


def main(directory: Path) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    limits = Limits(defaults.qa_max_decode_pixels, ZoneInfo(defaults.qa_timezone))
    directory.mkdir(parents=True, exist_ok=True)
    print("| image | size | sharpness | mean luminance |\n|---|---|---|---|")
    hashes = {}
    for name, effect in EXAMPLES:
        picture = render_photo("jpeg", seed=7, caption=CAPTION, effect=effect)
        traits = analyse(picture.data, "image/jpeg", (picture.width, picture.height), limits)
        hashes[name] = traits.phash
        _half_size(picture.data, directory / f"{name}.jpg")
        print(
            f"| ![{name}](findings/{name}.jpg) | {picture.width} x {picture.height} |"
            f" {traits.sharpness:.1f} | {traits.brightness:.0f} |"
        )
    again = render_photo("jpeg", seed=7, caption=CAPTION)
    reencoded = io.BytesIO()
    Image.open(io.BytesIO(again.data)).save(reencoded, "JPEG", quality=40)
    copy = analyse(reencoded.getvalue(), "image/jpeg", (again.width, again.height), limits)
    other = analyse(
        render_photo("jpeg", seed=8, caption=CAPTION).data, "image/jpeg", (0, 0), limits
    )
    if hashes["normal"] is None or copy.phash is None or other.phash is None:
        raise SystemExit("a picture too flat to fingerprint")
    print(
        f"\nperceptual hash distance: re-encoded at quality 40:"
        f" {distance(hashes['normal'], copy.phash)} bits;"
        f" another scene: {distance(hashes['normal'], other.phash)} bits"
    )


def _half_size(data: bytes, path: Path) -> None:
    with Image.open(io.BytesIO(data)) as image:
        small = image.resize((max(1, image.width // 2), max(1, image.height // 2)))
        small.save(path, "JPEG", quality=80)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
