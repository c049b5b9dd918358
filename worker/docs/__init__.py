"""The reference pages generated from the code: `python -m worker.docs` writes
docs/configuration.md from the `Settings` model and the partners file's schema.

May use: settings, partners (to read their models). Nothing of the worker uses it.
"""
