"""How a prediction horizon is worded, everywhere: reports, explanations, the terminal."""

from __future__ import annotations

__all__ = ["horizon_text"]

_YEAR_LENGTHS = (365.0, 365.25)  # a horizon of whole years in either counts as years


def horizon_text(days: float, *, before_noun: bool = False) -> str:
    """A horizon in words: whole years as years, anything else in days.

    Parameters
    ----------
    days : float
        The horizon in days; a whole number (1 or more) of years of 365 or 365.25 days is
        worded in years.
    before_noun : bool
        The form that qualifies a noun ("the 1-year risk", "the 90-day risk") instead of the
        noun form ("1 year", "2 years", "90 days").

    Returns
    -------
    str
        E.g. ``365`` → "1 year" (or "1-year"), ``730.5`` → "2 years" ("2-year"), ``90`` →
        "90 days" ("90-day").
    """
    for length in _YEAR_LENGTHS:
        years = days / length
        if years >= 1 and abs(years - round(years)) < 1e-9:
            count = round(years)
            if before_noun:
                return f"{count}-year"
            return f"{count} year{'s' if count != 1 else ''}"
    return f"{days:g}-day" if before_noun else f"{days:g} days"
