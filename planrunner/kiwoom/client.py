"""KiwoomClient: product words in, typed values out; httpx for all but instant orders.

Bodies come from `wire` (the builders `show` prints), so what is previewed is what is
sent. `_call` holds the one retry policy: only answers that prove the
request was not executed are retried — rate limits (1700–1702, 1687, HTTP 429), a
refused token (one refresh, one resend), a connection that was never made. An order
POST whose answer we did not see (timeout or drop after sending, HTTP 5xx, 1999), or
whose answer is not one known to mean "not executed" (`envelope.releases_order`), raises
UnknownOutcome and is never resent. Reads may also retry on 5xx, 1999 and timeouts.
Thread-safe: httpx's pooled transport is, and token and rate state sit behind locks.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from planrunner.clock import Clock, RealClock
from planrunner.errors import UsageError
from planrunner.kiwoom import codes, types, wire
from planrunner.kiwoom import exceptions as e
from planrunner.kiwoom.channel import Channel, Prepared
from planrunner.kiwoom.envelope import (
    Failure,
    body_of,
    error_for,
    releases_order,
    retry_after,
    scrub,
    verdict,
)
from planrunner.kiwoom.ratelimit import Attempts, RateLimiter, RateLimits, RetryPolicy
from planrunner.kiwoom.token import Token, TokenFile, TokenKeeper, cache_file, header_safe
from planrunner.kiwoom.types import (
    CancelAck,
    Fill,
    ModifyAck,
    OpenOrder,
    PlaceAck,
    Quote,
    StockInfo,
)
from planrunner.model import PRICED_TYPES, Side, WireRequest
from planrunner.redact import register

if TYPE_CHECKING:
    from planrunner.kiwoom.feed import Feed, Listener

log = logging.getLogger(__name__)
A = TypeVar("A")

Env = Literal["mock", "live", "sim"]
# Called once an order is built and connected, just before it is sent; given the channel's
# Prepared request (None on an injected transport) so a salvo can write it (salvo.py).
Ready = Callable[[Prepared | None], None]
OrderAck = PlaceAck | ModifyAck | CancelAck
CONTENT_TYPE = "application/json;charset=UTF-8"
MAX_PAGES = 200
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class KiwoomClient:
    def __init__(
        self,
        *,
        appkey: str,
        secretkey: str,
        env: Env = "mock",
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        token_cache_dir: Path | None = None,
        rate_limits: RateLimits | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if env not in ("mock", "live", "sim"):
            raise UsageError(f"env must be mock, live or sim, not {env!r}")
        if not appkey or not secretkey:
            raise UsageError("an app key and a secret key are needed (KIWOOM_APPKEY, ...)")
        self.env: Env = env
        self.base_url = codes.base_url_for(env, base_url)
        self._appkey, self._secretkey = appkey, secretkey
        register(appkey, secretkey)  # blanked from every text that leaves the process
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.limiter = RateLimiter(
            rate_limits or RateLimits.for_env(env), monotonic=monotonic, sleep=sleep
        )
        # The transport itself, not an httpx.Client: no cookie jar, redirects or URL
        # merging on the hot path (a third of the cost of a call), same pooled keep-alive.
        if ssl_context is None and self.base_url.startswith("https:") and transport is None:
            ssl_context = httpx.create_ssl_context()  # one for both paths below
        self._transport = transport or httpx.HTTPTransport(
            verify=ssl_context or True,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        # Orders sent at an instant go out on connections of their own, made ready before
        # it (channel.py); with an injected transport, everything goes through that.
        self._channel = Channel(self.base_url, ssl_context) if transport is None else None
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout).as_dict()
        # How long after a request began the client may still be waiting on it (connect,
        # then the answer): until then the broker may still be acting on it.
        self.request_timeout = float(timeout) + float(connect_timeout)
        self._urls = {api: httpx.URL(self.base_url + path) for api, path in codes.PATH_OF.items()}
        tfile = None
        if token_cache_dir is not None:
            path = cache_file(token_cache_dir, env=env, base_url=self.base_url, appkey=appkey)
            tfile = TokenFile(path)
        self.clock: Clock = clock or RealClock()
        self.tokens = TokenKeeper(self._issue, clock=self.clock, file=tfile)
        # How far the broker's clock is ahead of ours (seconds), from the `Date` header of
        # its latest answer; None until one tells. Reconciliation reads the order times
        # the broker lists on its own clock. With it, how long that answer took (from our
        # send to its arrival): the broker dated it somewhere in that time, so its clock
        # may be up to that much further ahead (`broker_clock`).
        self._broker_clock: tuple[float, float] | None = None

    def __repr__(self) -> str:
        return f"KiwoomClient(env={self.env!r}, base_url={self.base_url!r})"

    @property
    def broker_offset(self) -> float | None:
        """The broker's clock ahead of ours as the latest answer's `Date` tells (read
        at the answer's arrival, the whole second as its middle); None until one tells."""
        told = self._broker_clock
        return told[0] if told is not None else None

    @property
    def broker_clock(self) -> tuple[float, float] | None:
        """(`broker_offset`, the seconds the answer that told it took): the broker's clock
        may be up to that much further ahead than the offset says."""
        return self._broker_clock

    def __enter__(self) -> KiwoomClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()
        if self._channel is not None:
            self._channel.close()

    def prewarm(self) -> None:
        """An order is due shortly: open its connection now, in the background, while the
        runner reads what it must check (no-op with an injected transport)."""
        if self._channel is not None:
            threading.Thread(
                target=self._channel.prewarm,
                args=(self._timeout["connect"],),
                name="planrunner-prewarm",
                daemon=True,
            ).start()

    # ---- orders ------------------------------------------------------------------------

    def send(self, request: WireRequest, ready: Ready | None = None) -> OrderAck:
        """Send one order request (kt10000–kt10003) exactly as it was built: the runner
        journals a request, then hands this method that same object, so what the journal
        records is what goes on the wire. Its answer typed by the API: PlaceAck, ModifyAck
        or CancelAck. ValueError, before anything is sent, for a request that cannot go on
        the wire (a placeholder or a zero where a number must be; wire.check_order).

        `ready` runs once just before the request is first sent, with the request already
        built (and on an instant's own connection, connected): the runner waits there for
        the order's instant."""
        wire.check_order(request)
        if request.api_id in (codes.BUY, codes.SELL):
            exchange = request.body.get("dmst_stex_tp", "")
            return self._order(request, lambda data: PlaceAck.from_wire(data, exchange), ready)
        if request.api_id == codes.MODIFY:
            return self._order(request, ModifyAck.from_wire, ready)
        return self._order(request, CancelAck.from_wire, ready)

    def place(
        self,
        symbol: str,
        side: Side,
        qty: int,
        price: int | None,
        order_type: str,
        exchange: str = "KRX",
        stop_price: int | None = None,
        ready: Ready | None = None,
    ) -> PlaceAck:
        """kt10000 (buy) / kt10001 (sell); `price` None for unpriced types (market…).
        Builds the request (`wire.place_request`) and `send`s it."""
        types.require_int("qty", qty)
        if order_type in PRICED_TYPES:
            types.require_int("price", price)
        if order_type == "stop_limit":
            types.require_int("stop_price", stop_price)
        req = wire.place_request(
            symbol=symbol,
            side=side,
            qty=qty,
            price=price,
            order_type=order_type,
            exchange=exchange,
            stop_price=stop_price,
        )
        ack = self.send(req, ready)
        assert isinstance(ack, PlaceAck)
        return ack

    def modify(
        self,
        orig_ord_no: str,
        symbol: str,
        price: int,
        qty: int = 0,
        exchange: str = "KRX",
        stop_price: int | None = None,
        ready: Ready | None = None,
    ) -> ModifyAck:
        """kt10002: qty 0 = all remaining. The answer's `ord_no` is the order's new number."""
        types.require_int("price", price)
        types.require_int("qty", qty, zero=True)
        req = wire.modify_request(
            orig_ord_no=orig_ord_no,
            symbol=symbol,
            price=price,
            qty=qty,
            exchange=exchange,
            stop_price=stop_price,
        )
        ack = self.send(req, ready)
        assert isinstance(ack, ModifyAck)
        return ack

    def cancel(
        self,
        orig_ord_no: str,
        symbol: str,
        qty: int = 0,
        exchange: str = "KRX",
        ready: Ready | None = None,
    ) -> CancelAck:
        """kt10003: qty 0 = all remaining; the answer's qty is what was cancelled."""
        types.require_int("qty", qty, zero=True)
        req = wire.cancel_request(
            orig_ord_no=orig_ord_no, symbol=symbol, qty=qty, exchange=exchange
        )
        ack = self.send(req, ready)
        assert isinstance(ack, CancelAck)
        return ack

    # ---- reads -------------------------------------------------------------------------

    def open_orders(
        self, symbol: str | None = None, side: Side | None = None, exchange: str | None = None
    ) -> list[OpenOrder]:
        req = wire.open_orders_request(symbol=symbol, side=side, exchange=exchange)
        rows = self._pages(req, "oso")
        # A row listed twice alike (pages that shifted while they were read) is one order.
        return self._parse(req, lambda: list(dict.fromkeys(map(OpenOrder.from_wire, rows))))

    def fills(
        self, symbol: str | None = None, side: Side | None = None, exchange: str | None = None
    ) -> list[Fill]:
        req = wire.fills_request(symbol=symbol, side=side, exchange=exchange)
        rows = self._pages(req, "cntr")
        return self._parse(req, lambda: [Fill.from_wire(row) for row in rows])

    def quote(self, symbol: str) -> Quote:
        req = wire.quote_request(symbol=symbol)
        data = self._call(req)[0]
        return self._parse(req, lambda: Quote.from_wire(symbol, data))

    def stock_info(self, symbol: str) -> StockInfo:
        """ka10100: the code's name and market, which say what kind of instrument it is."""
        req = wire.stock_info_request(symbol=symbol)
        data = self._call(req)[0]
        return StockInfo.from_wire(symbol, data)

    def _parse(self, req: WireRequest, parse: Callable[[], A]) -> A:
        """A read whose success answer cannot be parsed (a number that is not one) is
        the broker's failure, not a bare ValueError."""
        try:
            return parse()
        except ValueError:
            msg = "The broker's answer was unreadable (a field is not a number)."
            raise e.ServerError(msg, api_id=req.api_id) from None

    # ---- the live feed -----------------------------------------------------------------

    def feed(self, listener: Listener, **options: Any) -> Feed:
        """The WebSocket feed that goes with this client's base URL and token (feed.py);
        not started. `options`: Feed's idle_timeout, min_stall, open_timeout, backoff."""
        from planrunner.kiwoom.feed import Feed, ws_url_for  # websockets only when used

        return Feed(ws_url_for(self.base_url), self.tokens, listener, **options)

    # ---- token -------------------------------------------------------------------------

    def token(self) -> Token:
        """A valid token (issued, or from the cache), renewed 10 minutes before expiry."""
        return self.tokens.get()

    def revoke(self) -> None:
        """au10002: revoke the held (or cached) token and forget it."""
        held = self.tokens.forget()
        if held is not None:
            req = wire.revoke_request(
                appkey=self._appkey, secretkey=self._secretkey, token=held.value
            )
            try:
                self._call(req, auth=False)
            except e.AuthError as exc:
                if exc.code not in codes.TOKEN_INVALID:
                    raise  # 8005 here: the token was already dead, which is what we wanted

    def _issue(self) -> Token:
        req = wire.token_request(appkey=self._appkey, secretkey=self._secretkey)
        data = self._call(req, auth=False)[0]
        value, expires = data.get("token"), data.get("expires_dt")
        if isinstance(value, str):
            register(value)
        if isinstance(value, str) and value and not header_safe(value):
            raise e.AuthError(
                "The broker's token cannot be sent in an HTTP header (it holds a space or "
                "a character other than visible ASCII); no request was made with it.",
                api_id=req.api_id,
            )
        try:
            if not (isinstance(value, str) and value):
                raise ValueError("token")
            if not isinstance(expires, str | int) or isinstance(expires, bool):
                raise ValueError("expires_dt")
            return Token.from_wire(value, str(expires))
        except ValueError:
            raise e.AuthError(
                "The token answer lacked a token or a valid expires_dt.", api_id=req.api_id
            ) from None

    # ---- the one send loop -------------------------------------------------------------

    def _pages(self, req: WireRequest, key: str) -> list[Mapping[str, Any]]:
        """Follow cont-yn / next-key until the broker says there is no more."""
        items: list[Mapping[str, Any]] = []
        page: str | None = None
        for _ in range(MAX_PAGES):
            data, headers = self._call(req, page=page)
            rows = data.get(key)
            if isinstance(rows, list):  # anything else (a string, a number) holds no rows
                items.extend(i for i in rows if isinstance(i, Mapping))
            if headers.get("cont-yn", "N").strip().upper() != "Y":
                return items
            page = headers.get("next-key", "")
        raise e.ServerBug(
            f"More than {MAX_PAGES} pages: the paging never ended.", api_id=req.api_id
        )

    def _call(
        self,
        req: WireRequest,
        *,
        auth: bool = True,
        page: str | None = None,
        ready: Ready | None = None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        order = req.api_id in codes.ORDER_APIS
        url = self._urls[req.api_id]
        content = json.dumps(req.body, ensure_ascii=False, separators=(",", ":")).encode()
        token = self.tokens.get() if auth else None
        refreshed = False
        tries = Attempts(self.retry, self._sleep)

        channel = self._channel if ready is not None else None
        while True:
            headers = {"Content-Type": CONTENT_TYPE, "api-id": req.api_id}
            if token is not None:
                headers["authorization"] = f"Bearer {token.value}"
            if page is not None:
                headers.update({"cont-yn": "Y", "next-key": page})
            try:
                # Built (and on the channel, connected) first: at the instant, only the send.
                send = self._prepare(channel, req.api_id, url, headers, content)
                if ready is not None:
                    self._ready(ready, send)
                    ready = None
                if not (isinstance(send, Prepared) and send.written):  # else admitted
                    self.limiter.acquire(req.api_id)
                sent_at = self.clock.now()
                resp = send.send() if isinstance(send, Prepared) else self._post(send)
            except httpx.LocalProtocolError:
                # Refused while the request was built, before a byte left; its text quotes
                # the offending header value, which may be a token: not kept.
                raise e.ServerBug(
                    "The request could not be built (a header value is not legal HTTP); "
                    "nothing was sent.",
                    api_id=req.api_id,
                ) from None
            except _NOT_SENT as exc:
                log.warning("%s: not connected (%s)", req.api_id, type(exc).__name__)
                if tries.again("connect"):
                    continue
                raise e.Unreachable(api_id=req.api_id, code=type(exc).__name__) from exc
            except httpx.TransportError as exc:
                log.warning("%s: no answer after sending (%s)", req.api_id, type(exc).__name__)
                what = f"no answer after sending ({type(exc).__name__})"
                if order:
                    raise e.UnknownOutcome(
                        f"{what}. {e.UnknownOutcome.advice}", request=req
                    ) from exc
                if tries.again("read"):
                    continue
                raise e.ServerError(f"{what}. {e.ServerError.advice}", api_id=req.api_id) from exc
            self._note_date(resp.headers.get("date"), sent_at)
            data = body_of(resp.content)
            # The raw text of an answer to au10001/au10002 may carry a token: never echoed.
            raw = resp.content[:200].decode("utf-8", "replace") if auth else ""
            failure = verdict(resp.status_code, data, raw)
            code = f"{failure.kind} {failure.code}" if failure else "ok"
            log.debug("%s: HTTP %s %s", req.api_id, resp.status_code, code)
            if failure is None:
                return data, resp.headers
            status = resp.status_code
            message = self._scrub(failure.message, token)
            if order and failure.kind != "server" and not releases_order(failure):
                # Not an answer known to mean "not executed": the order may have gone
                # through, so it is never resent nor reported as not placed.
                raise e.UnknownOutcome(
                    f"the broker's answer does not say the order was not executed "
                    f"(HTTP {status}, code {failure.code or '?'}). {e.UnknownOutcome.advice}",
                    code=failure.code,
                    broker_message=message,
                    http_status=status,
                    request=req,
                )
            if failure.kind == "token" and token is not None and not refreshed:
                refreshed = True
                token = self.tokens.refused(token)
                continue
            if failure.kind == "rate" and tries.again("rate", retry_after(resp.headers)):
                continue
            if failure.kind == "server" and order:
                raise e.UnknownOutcome(
                    code=failure.code, broker_message=message, http_status=status, request=req
                )
            if failure.kind == "server" and tries.again("read"):
                continue
            scrubbed = Failure(
                code=failure.code, message=message, kind=failure.kind, stated=failure.stated
            )
            raise error_for(scrubbed, api_id=req.api_id, http_status=status)

    def _prepare(
        self,
        channel: Channel | None,
        api_id: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: bytes,
    ) -> Prepared | httpx.Request:
        if channel is not None:
            admit = lambda: self.limiter.try_acquire(api_id)  # noqa: E731
            return channel.prepare(url, headers, content, self._timeout, admit)
        return httpx.Request(
            "POST", url, headers=headers, content=content, extensions={"timeout": self._timeout}
        )

    @staticmethod
    def _ready(ready: Ready, send: Prepared | httpx.Request) -> None:
        try:
            ready(send if isinstance(send, Prepared) else None)
        except BaseException:
            if isinstance(send, Prepared):
                send.abandon()
            raise

    def _post(self, request: httpx.Request) -> httpx.Response:
        resp = self._transport.handle_request(request)
        try:
            resp.read()
        finally:
            resp.close()
        return resp

    def _order(
        self, req: WireRequest, parse: Callable[[dict[str, Any]], A], ready: Ready | None
    ) -> A:
        data = self._call(req, ready=ready)[0]
        try:
            return parse(data)
        except (KeyError, ValueError):
            # The broker said success but its answer is unreadable: the order may well
            # have executed, so this is not a rejection.
            msg = "The broker accepted the order but its answer was unreadable."
            raise e.UnknownOutcome(f"{msg} {e.UnknownOutcome.advice}", request=req) from None

    def _note_date(self, header: str | None, sent_at: dt.datetime) -> None:
        if not header:
            return
        try:
            told = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return
        if told.tzinfo is None:
            return
        # A Date has whole seconds: the broker's clock stood somewhere in [told, told + 1).
        told += dt.timedelta(seconds=0.5)
        now = self.clock.now()
        took = max(0.0, (now - sent_at).total_seconds())
        self._broker_clock = ((told - now).total_seconds(), took)

    def _scrub(self, text: str, sent: Token | None) -> str:
        """Blank out keys and tokens should a broker message ever echo them."""
        held = self.tokens.held_value()
        return scrub(text, self._appkey, self._secretkey, held, sent.value if sent else "")


def url_parts(base_url: str) -> tuple[str, str, bool]:
    """(scheme, host, whether it carries user info) of a base URL, read by the parser the
    client connects with; UsageError if it is not a URL."""
    try:
        url = httpx.URL(base_url)
        return url.scheme, url.host, bool(url.userinfo)
    except Exception:  # httpx.InvalidURL and the like
        raise UsageError(f"--base-url {base_url!r} is not a URL") from None
