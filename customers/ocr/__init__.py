"""Reading a PRC resident ID card from an uploaded photo (issue #20).

- `id_card.py`: pure parsing of OCR text boxes into the card's fields (no Django; GB 11643 check);
- `engine.py`: the OCR engine (RapidOCR, PP-OCR models shipped in its wheel), loaded once per process;
- `services.py`: `id_card_reading_start` (after an upload), `id_card_read` (the Celery task's body),
  the selectors the wizard and the staff page use, and the personal step's prefill.
"""
