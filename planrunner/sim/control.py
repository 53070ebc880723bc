"""Control endpoints under `/_sim/` (not Kiwoom): read the truth and steer the simulator
from another process.

    GET  /_sim/log            {"log": [entry, ...]}        every Kiwoom request, in order
    GET  /_sim/orders         {"orders": [order, ...]}     every order number, by number
    GET  /_sim/status         {"now", "env", "quotes": {symbol: {...}}, "tokens_issued"}
    GET  /_sim/faults         {"faults": [rule, ...]}
    POST /_sim/faults         {"spec": "rate_limit:count=2"} | {"specs": [...]} | {"clear": true}
    POST /_sim/price          {"symbol": "005930", "price": 69500}  (ints allowed here)
    POST /_sim/expire-tokens  invalidate every token now
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from planrunner.errors import UsageError
from planrunner.sim.reply import Reply, json_reply

if TYPE_CHECKING:
    from planrunner.sim.simulator import Simulator


def _reply(status: int, data: Any) -> Reply:
    return json_reply(status, data)


def handle(sim: Simulator, method: str, path: str, raw: bytes) -> Reply:
    name = path.removeprefix("/_sim/").split("?", 1)[0].strip("/")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _reply(400, {"error": "body is not JSON"})
    if not isinstance(data, dict):
        return _reply(400, {"error": "body must be a JSON object"})
    try:
        if method == "GET" and name == "log":
            return _reply(200, {"log": [e.as_dict() for e in sim.log_snapshot()]})
        if method == "GET" and name == "orders":
            return _reply(200, {"orders": [o.as_dict() for o in sim.orders().values()]})
        if method == "GET" and name == "status":
            return _reply(200, sim.status())
        if method == "GET" and name == "faults":
            return _reply(200, {"faults": [r.as_dict() for r in sim.faults.rules]})
        if method == "POST" and name == "faults":
            with sim.lock:
                if data.get("clear"):
                    sim.faults.clear()
                specs = data.get("specs") or ([data["spec"]] if "spec" in data else [])
                for spec in specs:
                    sim.faults.add(str(spec))
                return _reply(200, {"faults": [r.as_dict() for r in sim.faults.rules]})
        if method == "POST" and name == "price":
            symbol, price = str(data.get("symbol", "")), data.get("price")
            if not symbol or not isinstance(price, int | str) or not str(price).isdigit():
                return _reply(400, {"error": 'expected {"symbol": "005930", "price": 69500}'})
            return _reply(200, {"symbol": symbol, "price": sim.set_price(symbol, int(price))})
        if method == "POST" and name == "expire-tokens":
            return _reply(200, {"expired": sim.expire_tokens()})
    except UsageError as e:
        return _reply(400, {"error": str(e)})
    return _reply(404, {"error": f"no control endpoint {method} /_sim/{name}"})
