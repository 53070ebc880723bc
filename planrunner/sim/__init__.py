"""A Kiwoom-compatible simulator: an independent implementation of the HTTP API."""
