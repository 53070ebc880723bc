"""What the commands do, as library calls: run, cancel-all, status, targets and guards."""
