"""Ingestion worker for STOC intervention photos (Interop'fibre API CRI asynchrone)."""
