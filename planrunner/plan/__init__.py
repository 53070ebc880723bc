"""The plan language: load, schema, rules, compile, timeline, show.

Pure: no I/O but reading the plan file.
"""
