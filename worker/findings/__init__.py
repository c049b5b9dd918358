"""Stage 5: the photo checks: what a quality analyst would look at first, flagged per request.

Each stored photo is decoded once, off the event loop (`analyzer.py`, `imaging.py`, `exif.py`,
`hashing.py`); the request's photos are then compared with what the message and the records
declare and with each other (`checks.py`, `places.py`), and with every photo stored before
(`reuse.py`). `review.py` puts it together for the attempt's outcome statement.

The spec's framing rules (`framing.py`): the PTO reference read on the label (`pto_label.py`,
`pto_reference.py`, looked up on other accesses by `label_lookup.py`) and the before and after
photos from one spot (`same_spot.py`), on photos decoded upright (`upright.py`); pure and
CPU-heavy, for the review stage to run in its own processes.

May use: settings, observe, partners, photos.
"""
