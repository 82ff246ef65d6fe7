"""Bit I/O, units and syntax structures: each structure written once for both directions."""
