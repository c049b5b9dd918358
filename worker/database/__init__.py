"""PostgreSQL plumbing below the stages: the schema's migrations and batched statements.

May use: nothing of the worker; the stages and the tools use it.
"""
