"""What tests and bench/ share: the loopback harness, the in-process rehearsal, plan
builders, fakes. Import as `from tests.support.NAME import ...`."""
