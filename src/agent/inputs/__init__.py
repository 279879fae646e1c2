"""Inputs: turning files, directories, stdin and tools' output into records.

Everything here does I/O; parsing itself is delegated to `detection.parsers`.
"""
