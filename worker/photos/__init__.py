"""Stage 4: one photo fetched, inspected while it streams, stored; the catalog of stored ones.

May use: settings, observe, partners.
"""
