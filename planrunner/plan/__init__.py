"""The plan language: load, params, schema, rules, compile, timeline, show, diff, new.

Pure: no I/O but reading the plan file (and its templates).
"""
