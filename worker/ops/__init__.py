"""Operator commands: status, show, findings, refetch, replay of dead letters, send, their
formatting.

May use: the stages' modules and resources; never service, demo or cli.
"""
