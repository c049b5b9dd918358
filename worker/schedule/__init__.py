"""Stage 2: due requests claimed under a lease, the loop that runs them, the backoff.

May use: settings, observe, database, partners, limits; it runs attempts through a callable, not
by import.
"""
