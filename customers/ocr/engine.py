"""The OCR engine: RapidOCR on ONNX Runtime with the PP-OCR models its wheel ships (nothing is
downloaded at run time). Loaded lazily, once per process (a Celery worker process keeps it), and
shared by the threads of that process behind a lock (the ONNX sessions are not used concurrently).
"""

from __future__ import annotations

import io
import threading

from customers.ocr.id_card import TextBox

MAX_SIDE = 1280  # larger photos are scaled down first: the card's text stays well readable, OCR is faster

_engine = None
_lock = threading.Lock()


class ImageUnreadable(ValueError):
    """The bytes are not an image we can open (a PDF, a corrupt file)."""


def _get_engine():
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR  # imported here: only processes that read cards pay for it

        _engine = RapidOCR()
    return _engine


def _prepare(image_bytes: bytes):
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(image_bytes))
        image = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ImageUnreadable(str(error)) from error
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(image)[:, :, ::-1].copy()  # RGB -> BGR, as OpenCV reads files


def read_boxes(image_bytes: bytes) -> list[TextBox]:
    """The text boxes RapidOCR finds in the image (PNG/JPEG bytes), top to bottom."""
    array = _prepare(image_bytes)
    with _lock:
        # No text-direction classifier: a card photographed upright or tilted a few degrees needs none (faster).
        result, _ = _get_engine()(array, use_cls=False)
    return [TextBox(text=text, confidence=float(score), points=tuple((float(x), float(y)) for x, y in points))
            for points, text, score in (result or [])]
