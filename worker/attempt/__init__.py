"""Stage 3: one attempt at a request, its verdicts, and the one statement of its outcome.

May use: every room below it (schedule, limits, findings, photos, partners, database, observe,
settings).
"""
