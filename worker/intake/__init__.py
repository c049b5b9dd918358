"""Stage 1: a CR_STOC delivery is validated, recorded as a request row, then settled.

May use: settings, validation, observe, database, events, partners; never a later stage.
"""
