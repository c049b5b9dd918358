"""`python -m tests.bench`: throughput, memory, idle cost, latency and scaling of the worker."""
