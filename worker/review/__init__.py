"""Stage 6, the review: the photo checks, apart from ingestion.

The attempt finishes a request without decoding a photo and queues it for review
(`request_reviews`, in its final statement). Reviewers claim queued requests with a lease
(`queue.py`), read each photo back from storage and hand it to a pool of processes limited in
memory, time and CPU priority (`processes.py`, `decoding.py`): the event loop never decodes an
image, and an image that crashes a decoder costs a process, not the worker. When every photo of a
request is checked, its findings, the photos' traits and a `photos.reviewed` event are written by
one transaction (`record.py`). `requeue.py` queues stored requests again (`worker review`).

May use: settings, border, observe, database, partners, photos, findings, events.
The attempt never imports this room.
"""
