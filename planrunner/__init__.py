"""planrunner: run declarative YAML order plans against Kiwoom Securities' REST API."""

from pathlib import Path

__version__ = "0.1.0"


def package_text(relative: str) -> str:
    """A file shipped inside the package (`data/sessions.yaml`), read as UTF-8: from
    beside this module when the package is plain files (an install or a checkout; a few
    milliseconds sooner than `importlib.resources`), through `importlib.resources`
    otherwise (e.g. imported from a zip)."""
    try:
        return (Path(__file__).parent / relative).read_text(encoding="utf-8")
    except OSError:
        from importlib import resources

        return resources.files("planrunner").joinpath(relative).read_text(encoding="utf-8")
