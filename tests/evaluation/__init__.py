"""The framing checks scored on generated photos of known truth: `python -m tests.evaluation`."""
