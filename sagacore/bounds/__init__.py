"""Offline optima for KV caching: Belady MIN, exact OPT, FOO-L and FOO-U."""
