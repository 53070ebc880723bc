"""KRX tick grids by instrument kind. Integers only: won never become floats.

Stocks (and what trades like them: REITs, funds, depositary receipts) use the grid in
force since 2023-01-25; ETFs and ETNs use their own (1 won under 2,000, 5 won from 2,000).
Which kind a code is comes from `planrunner.krx.instruments`; every function here takes
the kind and defaults to a stock. Fractions (an average fill price) are exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

# (upper bound exclusive, tick) — the last band has no bound: (bands, top tick).
Grid = tuple[tuple[tuple[int, int], ...], int]

STOCK_GRID: Grid = (
    (
        (2_000, 1),
        (5_000, 5),
        (20_000, 10),
        (50_000, 50),
        (200_000, 100),
        (500_000, 500),
    ),
    1_000,
)
ETF_GRID: Grid = (((2_000, 1),), 5)

GRIDS: dict[str, Grid] = {"stock": STOCK_GRID, "etf": ETF_GRID, "etn": ETF_GRID}


def grid(kind: str = "stock") -> Grid:
    return GRIDS.get(kind, STOCK_GRID)


def tick_size(price: int, kind: str = "stock") -> int:
    """The tick that applies to a price (the band the price sits in)."""
    bands, top = grid(kind)
    for bound, tick in bands:
        if price < bound:
            return tick
    return top


def on_grid(price: int, kind: str = "stock") -> bool:
    return price > 0 and price % tick_size(price, kind) == 0


def nearest_valid(price: int, kind: str = "stock") -> tuple[int, int]:
    """The valid prices just below and just above an off-grid price."""
    tick = tick_size(price, kind)
    low = price - price % tick
    high = low + tick
    if low < 1:
        low = 1
    return low, high


def step(price: int, ticks: int, kind: str = "stock") -> int:
    """Move a valid price by a number of ticks, crossing bands tick by tick.

    Going up from 1,995 by one tick gives 2,000; going down from 2,000 gives 1,999:
    the tick below a band boundary belongs to the lower band.
    """
    p = price
    for _ in range(abs(ticks)):
        if ticks > 0:
            p += tick_size(p, kind)
        else:
            p -= tick_size(p - 1, kind)
    return p


def band(base: int, percent: int, kind: str = "stock") -> tuple[int, int]:
    """Prices within ±percent of `base`, on the grid: (lowest, highest), both inclusive.

    ±30% of the base price are the daily limits; ±10% of the day's close bound the
    after-hours single-price session (type 62)."""
    up = base * (100 + percent) // 100
    upper = up - up % tick_size(up, kind)
    down = -(-base * (100 - percent) // 100)
    lower = down if on_grid(down, kind) else nearest_valid(down, kind)[1]
    return max(lower, 1), upper


SINGLE_PRICE_BAND = 10  # percent around the day's close, after-hours single price (62)


def onto_grid(value: Fraction, *, up: bool, kind: str = "stock") -> int:
    """A won amount (possibly fractional: an average fill price, a percent of it) put on
    the tick grid: the next valid price at or above it (`up`), else at or below it."""
    n = math.ceil(value) if up else math.floor(value)
    n = max(n, 1)
    if on_grid(n, kind):
        return n
    low, high = nearest_valid(n, kind)
    return high if up else low


def offset_price(
    base: Fraction,
    *,
    percent: Fraction | None = None,
    ticks: int | None = None,
    up: bool,
    kind: str = "stock",
) -> int:
    """`base` moved by a percent or a number of ticks, on the grid, rounded the way `up`
    says (a sell rounds up, a buy rounds down: never a worse price than stated). A tick
    offset first puts `base` on the grid that way, then steps along it."""
    if percent is not None:
        return onto_grid(base * (100 + percent) / 100, up=up, kind=kind)
    return step(onto_grid(base, up=up, kind=kind), ticks or 0, kind)
