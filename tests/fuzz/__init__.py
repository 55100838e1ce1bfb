"""Fuzzing: hostile clients against a live node, and the Cython codec against its pure-Python twin."""
