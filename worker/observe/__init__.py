"""How the worker is watched: metrics, logs (redacted), failures counted, /metrics and /readyz.

May use: settings and border only; every other room may use it.
"""
