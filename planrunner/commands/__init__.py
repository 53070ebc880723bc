"""The click commands, one module per area; `planrunner.cli` holds the group."""
