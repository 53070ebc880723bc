"""KRX tick grid (in force since 2023-01-25). Integers only: won never become floats."""

from __future__ import annotations

# (upper bound exclusive, tick) — the last band has no bound.
_BANDS: tuple[tuple[int, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
)
_TOP_TICK = 1_000


def tick_size(price: int) -> int:
    """The tick that applies to a price (the band the price sits in)."""
    for bound, tick in _BANDS:
        if price < bound:
            return tick
    return _TOP_TICK


def on_grid(price: int) -> bool:
    return price > 0 and price % tick_size(price) == 0


def nearest_valid(price: int) -> tuple[int, int]:
    """The valid prices just below and just above an off-grid price."""
    tick = tick_size(price)
    low = price - price % tick
    high = low + tick
    if low < 1:
        low = 1
    return low, high


def step(price: int, ticks: int) -> int:
    """Move a valid price by a number of ticks, crossing bands tick by tick.

    Going up from 1,995 by one tick gives 2,000; going down from 2,000 gives 1,999:
    the tick below a band boundary belongs to the lower band.
    """
    p = price
    for _ in range(abs(ticks)):
        if ticks > 0:
            p += tick_size(p)
        else:
            p -= tick_size(p - 1)
    return p
