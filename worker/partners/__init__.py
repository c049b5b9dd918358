"""The OCs: the partners file, the HTTP client of their API, credentials, photo records.

May use: settings, validation, observe. Everything that talks to an OC goes through it.
"""
