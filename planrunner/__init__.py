"""planrunner: run declarative YAML order plans against Kiwoom Securities' REST API."""

__version__ = "0.1.0"
