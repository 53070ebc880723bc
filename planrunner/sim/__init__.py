"""A Kiwoom-compatible simulator: an independent implementation of the HTTP API.

    from planrunner.sim import Simulator
    sim = Simulator(clock=ManualClock(start), scenario=None, seed=0, env="mock",
                    first_ord_no=1, page_size=100, enforce_session=True, default_price=None,
                    codes=None)   # codes: listed (the scenario's default) | open
    client = httpx.Client(transport=sim.transport(), base_url="https://mockapi.kiwoom.com")
    server = sim.serve(port=0); server.url; server.close()   # 127.0.0.1, background thread
    sim.log              # list[LogEntry]: every Kiwoom request answered or dropped
    sim.orders()         # {ord_no: OrderView}: the book, played up to the clock's now
    sim.faults           # Faults: .add("rate_limit:api=kt10000,count=2"), .drop(), .error(), ...
    sim.set_price("005930", 69500)      # fills what crosses
    sim.register_key(appkey, secretkey, env="live")   # that key now answers 8030
    sim.register_token(token, env="live")             # that token now answers 8031
    sim.expire_tokens()                               # every token answers 8005
    sim.set_next_ord_no(139)                          # jump the order-number counter

Endpoints: /oauth2/token (au10001), /oauth2/revoke (au10002), /api/dostk/ordr
(kt10000-kt10003), /api/dostk/acnt (ka10075, ka10076), /api/dostk/stkinfo (ka10001), and
control endpoints under /_sim/ (see planrunner.sim.control). It does not import
planrunner.kiwoom: the two are independent readings of the wire format and check each
other. docs/simulator.md has the codes, the scenario format and the fault specs.
"""

from planrunner.sim.faults import Faults, FaultSpecError, Rule, parse_fault
from planrunner.sim.log import LogEntry
from planrunner.sim.orders import OrderView
from planrunner.sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from planrunner.sim.simulator import Simulator, default_clock, default_start

__all__ = [
    "FaultSpecError",
    "Faults",
    "LogEntry",
    "OrderView",
    "Rule",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "default_clock",
    "default_start",
    "load_scenario",
    "parse_fault",
    "parse_scenario",
]
