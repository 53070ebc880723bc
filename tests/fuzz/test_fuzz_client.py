"""Random broker answers through the real client: every outcome is classified, and an
order POST is never resent after an answer that did not prove it unexecuted.
See tests/fuzz/responses.py for the answers and the properties."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given

from tests.fuzz.responses import (
    FALLBACK,
    GOOD_ARGS,
    OK_TOKEN,
    Answer,
    Scenario,
    check,
    scenarios,
)
from tests.fuzz.settings import bounded

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@bounded(max_examples=300)
@given(sc=scenarios())
def test_random_answers_are_classified_and_orders_never_resent_blindly(sc: Scenario) -> None:
    assert check(sc) == []


def _scenario(call: str, *script: Answer) -> Scenario:
    return Scenario(
        call=call,
        kwargs=dict(GOOD_ARGS[call]),
        bad_args=False,
        token_script=[OK_TOKEN],
        script=list(script),
    )


def test_the_oracle_flags_a_resend_after_an_ambiguous_answer() -> None:
    """Positive controls for the checker itself: a 503 then a success on one order call
    would be a blind resend; the real client stops at the 503 (UnknownOutcome)."""
    from tests.fuzz.responses import _order_rules

    drop = Answer(raises=httpx.ReadTimeout)
    assert _order_rules([drop, FALLBACK], object()) != []
    assert _order_rules([Answer(503), FALLBACK], object()) != []
    assert _order_rules([Answer(429), Answer(raises=httpx.ConnectError), FALLBACK], None) == []
    sc = _scenario("place", Answer(503, b"{}"), FALLBACK)
    assert check(sc) == []
    assert [a for api, a in sc.seen if api == "kt10000"] == [Answer(503, b"{}")]


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, b'{"return_code": 0, "cur_prc": "abc"}'),
        Answer(200, b'{"return_code": 0, "cur_prc": [1, 2]}'),
        Answer(200, b'{"return_code": 0, "oso": 5}'),
        Answer(200, b'{"return_code": 0, "oso": [{"ord_qty": "ten"}]}'),
        Answer(200, b'{"return_code": 0, "cntr": [{"cntr_pric": {"a": 1}}]}'),
    ],
    ids=["quote-not-a-number", "quote-list", "oso-an-int", "oso-bad-qty", "cntr-dict-price"],
)
@pytest.mark.parametrize("call", ["quote", "open_orders", "fills"])
def test_an_unreadable_read_answer_is_a_broker_error(call: str, answer: Answer) -> None:
    """Found by the fuzzer: a success answer with a non-numeric field made reads raise a
    bare ValueError (or TypeError for a non-list `oso`), outside the documented tree."""
    assert check(_scenario(call, answer)) == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"return_code": 0, "token": {"": "\xc2\xa1"}, "expires_dt": "20991231235959"}',
        b'{"return_code": 0, "token": "T\xc3\xb6ken", "expires_dt": "20991231235959"}',
        b'{"return_code": 0, "token": "", "expires_dt": "20991231235959"}',
        b'{"return_code": 0, "token": "TOKEN-1", "expires_dt": [2099]}',
    ],
    ids=["dict", "non-ascii", "empty", "expires-list"],
)
def test_an_unusable_token_answer_is_an_auth_error(body: bytes) -> None:
    """Found by the fuzzer: a token that was not text (or not ASCII) was stringified and
    put into the Authorization header, where httpx raised a bare UnicodeEncodeError."""
    from planrunner.kiwoom import exceptions as e

    sc = _scenario("quote")
    sc.token_script = [Answer(200, body)]
    assert check(sc) == []
    assert isinstance(sc.outcome, e.AuthError)
