"""KRX tick grids by instrument kind. Integers only: won never become floats.

Stocks (and what trades like them: REITs, funds, depositary receipts) use the grid in
force since 2023-01-25; ETFs and ETNs use their own (1 won under 2,000, 5 won from 2,000).
Which kind a code is comes from `planrunner.krx.instruments`; every function here takes
the kind and defaults to a stock.
"""

from __future__ import annotations

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
