"""The simulator is an independent reading of the wire format: it never imports the client."""

from __future__ import annotations

from tests.support.fresh import modules_after


def test_the_simulator_imports_nothing_from_planrunner_kiwoom() -> None:
    loaded = modules_after(
        "import planrunner.sim, planrunner.sim.server, planrunner.sim.transport",
        "from planrunner.sim import Simulator",
        "Simulator().handle('POST', '/oauth2/token', {}, b'{}')",
    )
    assert sorted(m for m in loaded if m.startswith("planrunner.kiwoom")) == []
