"""Running a compiled plan: journal, checks, execute, triggers, reconcile, runner, summary."""
