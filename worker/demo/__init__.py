"""`worker demo`: sample messages through the real worker against the simulator, and the summary.

May use: anything but cli; nothing of the worker imports it.
"""
