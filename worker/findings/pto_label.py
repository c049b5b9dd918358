"""The PTO reference read on the photo of an outlet: from a barcode if there is one, else by OCR.

Barcodes and QR or DataMatrix codes first (zxing-cpp, a few milliseconds): what they hold is
exact. Then OCR (RapidOCR on onnxruntime, its PP-OCR models inside its wheel: nothing is
downloaded): text is found on a reduced image, then each line found is read again from the
full-size image, cut out and straightened, which is what makes small labels legible. Only what
matches the OI's pattern is kept (`pto_reference.py`); a line with a character read with less
confidence than `min_confidence` is dropped, as a wrong reference is worse than none (it makes
a false `pto_reference_mismatch`).

The OCR engine takes about 0.7 s of CPU and 190 MB to load: `LabelReader` builds it on first use
and keeps it; build one reader per process and call it from one thread at a time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import zxingcpp
from PIL import Image

from worker.findings.model import LabelReading
from worker.findings.pto_reference import TWINS, ReferencePattern
from worker.findings.upright import PTO_SIDE, upright_grey

# Long sides of the reduced images text is looked for on, each tried only when the one before
# found no reference: the small one finds most labels (detection costs about its pixels: at 480
# px about 160 ms of CPU, at 640 px 300), the next ones the small, far labels. Measured on the
# evaluation set (docs/findings.md): (480, 960, 1600) reads as many labels as (640, 1600) did,
# median 201 ms of CPU per photo against 331, 90th percentile 895 against 2,297.
DETECTION_SIDES = (480, 960, 1600)
_LINE_HEIGHT = 48  # what the recogniser is trained on
_MARGIN = 0.25  # of a line's height, added around it before reading it again
_MIN_LINE = 6  # pixels, on the reduced image: a smaller line is never a legible reference
_MIN_ASPECT = 3.0  # a reference is a long line: "PTO" or a logo is not read again
# Matrix codes and the linear ones that hold letters; no retail codes (digits only).
_FORMATS = "QRCode, MicroQRCode, DataMatrix, Aztec, Code128, Code39, Code93, PDF417"


class LabelReader:
    def __init__(self, pattern: str, *, min_confidence: float = 0.9, threads: int = 1) -> None:
        self._pattern = ReferencePattern(pattern)
        self._min_confidence = min_confidence
        self._threads = threads
        self._engine: Any = None

    def read_photo(self, data: bytes) -> LabelReading | None:
        """The reference on a stored photo (JPEG or PNG bytes), its box in the pixels of the
        upright photo. Raises what Pillow raises for an image it cannot decode."""
        grey, scale = upright_grey(data, PTO_SIDE)
        reading = self.read(grey)
        if reading is None or scale == 1:
            return reading
        x0, y0, x1, y1 = (round(value * scale) for value in reading.box)
        return replace(reading, box=(x0, y0, x1, y1))

    def read(self, image: np.ndarray | Image.Image) -> LabelReading | None:
        """The reference on an upright photo (RGB or grey), or None if none can be read."""
        grey = _grey(image)
        return self._from_barcodes(grey) or self._from_text(grey)

    def _from_barcodes(self, grey: np.ndarray) -> LabelReading | None:
        formats = zxingcpp.barcode_formats_from_str(_FORMATS)
        for code in zxingcpp.read_barcodes(grey, formats=formats, try_invert=False):
            for match in self._pattern.find(code.text):
                if match.swaps == 0:
                    return LabelReading(match.text, _bounds(code.position), "barcode", 1.0)
        return None

    def _from_text(self, grey: np.ndarray) -> LabelReading | None:
        for side in DETECTION_SIDES:
            reading = self._from_lines(grey, side)
            if reading is not None or side >= max(grey.shape):
                return reading
        return None

    def _from_lines(self, grey: np.ndarray, side: int) -> LabelReading | None:
        scale = min(1.0, side / max(grey.shape))
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self._ocr(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR), use_det=True, use_rec=False)
        if found.boxes is None:
            return None
        best: LabelReading | None = None
        for quad in found.boxes:
            corners = np.asarray(quad, np.float32) / scale
            line = _straightened(grey, corners)
            if line is None:
                continue
            read = self._ocr(
                cv2.cvtColor(line, cv2.COLOR_GRAY2BGR),
                use_det=False,
                use_rec=True,
                return_word_box=True,
            )
            if not read.txts or not read.word_results:
                continue
            text = read.txts[0]
            confidence = _least_sure(text, read.word_results[0].confs)
            if confidence < self._min_confidence:
                continue
            matches = self._pattern.find(text)
            if matches and (best is None or confidence > best.confidence):
                box = _bounds(corners)
                best = LabelReading(matches[0].text, box, "ocr", round(confidence, 3))
        return best

    def _ocr(self, image: np.ndarray, **steps: bool) -> Any:
        if self._engine is None:
            self._engine = _engine(self._threads)
        return self._engine(image, use_cls=False, **steps)


def _engine(threads: int) -> Any:
    from rapidocr import RapidOCR  # its import alone loads onnxruntime: only where it is used

    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "Det.limit_type": "max",
            "Det.limit_side_len": max(DETECTION_SIDES),
        }
    )


def _least_sure(text: str, confidences: list[float]) -> float:
    """The confidence of the least sure character, not the line's mean: one doubtful letter
    in twelve barely moves the mean, and it is the letter that makes a wrong reference.

    A twin (O/0, I/1, S/5, B/8) doubted between itself and its twin is no doubt at all, as
    references are compared twin-blind; the recogniser gives only its first choice's
    probability, which is then at least half of the pair's: a twin counts double, capped at 1.
    """
    if len(confidences) != len(text):
        return min(confidences, default=0.0)
    return min(
        (
            min(1.0, 2 * c) if char.upper() in TWINS else c
            for char, c in zip(text, confidences, strict=True)
        ),
        default=0.0,
    )


def _grey(image: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


def _straightened(grey: np.ndarray, corners: np.ndarray) -> np.ndarray | None:
    """The line under four corners (clockwise from top left), cut from the full-size image,
    turned level and scaled to the recogniser's height, with a margin around it; None for
    what cannot be a reference (too small, too short)."""
    top, right, bottom, left = (
        np.linalg.norm(corners[1] - corners[0]),
        np.linalg.norm(corners[2] - corners[1]),
        np.linalg.norm(corners[3] - corners[2]),
        np.linalg.norm(corners[0] - corners[3]),
    )
    width, height = max(top, bottom), max(left, right)
    if height < _MIN_LINE or width < _MIN_ASPECT * height:
        return None
    scale = _LINE_HEIGHT / (height * (1 + 2 * _MARGIN))
    out_w, out_h = round(width * scale + 2 * _MARGIN * height * scale), _LINE_HEIGHT
    pad = _MARGIN * height * scale
    target = np.array(
        [[pad, pad], [out_w - pad, pad], [out_w - pad, out_h - pad], [pad, out_h - pad]],
        np.float32,
    )
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(
        grey, matrix, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


def _bounds(points: Any) -> tuple[int, int, int, int]:
    if isinstance(points, np.ndarray):
        xs, ys = points[:, 0], points[:, 1]
    else:  # zxing-cpp's Position: four corner points
        corners = (points.top_left, points.top_right, points.bottom_right, points.bottom_left)
        xs, ys = np.array([p.x for p in corners]), np.array([p.y for p in corners])
    return int(xs.min()), int(ys.min()), int(np.ceil(xs.max())), int(np.ceil(ys.max()))
