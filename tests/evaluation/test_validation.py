"""Validation designs (prognosis.evaluation.validation): every property of the folds and the
temporal split is checked from the data itself, on a hand-made frame whose persons have one to
four rows, never by rebuilding the folds the same way."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from prognosis.evaluation.validation import (
    Split,
    SplitError,
    parse_split,
    persons_of,
    split_rows,
    temporal_overlap,
)

CUTOFF = dt.date(2020, 1, 1)


def _frame(n_persons: int = 90, seed: int = 0) -> pd.DataFrame:
    """Persons with 1 to 4 rows each, rows shuffled; a third of the persons have an event on
    every row (so a person's event status is known from any of its rows)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, 5, n_persons)
    person = np.repeat(np.arange(100, 100 + n_persons), rows)
    has_event = np.repeat(np.arange(n_persons) % 3 == 0, rows)
    first = np.repeat(rng.integers(0, 730, n_persons), rows)  # days after 2019-01-01
    later = np.concatenate([np.arange(k) * 200 for k in rows])  # each row 200 days after
    frame = pd.DataFrame(
        {
            "person_id": person,
            "index_date": [dt.date(2019, 1, 1) + dt.timedelta(days=int(d)) for d in first + later],
            "event": has_event.astype(int),
            "time": 100.0,
        }
    )
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_folds_keep_each_person_on_one_side_and_test_every_row_once(folds: int) -> None:
    frame = _frame()
    pairs = split_rows(Split("cv", folds=folds), frame, seed=0)
    assert len(pairs) == folds
    tested = Counter()
    for train, test in pairs:
        train_persons = set(frame["person_id"].iloc[train])
        test_persons = set(frame["person_id"].iloc[test])
        assert not train_persons & test_persons
        assert len(train) + len(test) == len(frame)  # the rest of the rows train
        tested.update(test.tolist())
    assert sorted(tested) == list(range(len(frame))) and set(tested.values()) == {1}


def test_folds_hold_equal_shares_of_persons_and_of_persons_with_an_event() -> None:
    frame = _frame()
    persons = frame.drop_duplicates("person_id")
    n_persons, n_event = len(persons), int(persons["event"].sum())  # 90 and 30
    for _, test in split_rows(Split("cv", folds=5), frame, seed=0):
        in_test = frame.iloc[test].drop_duplicates("person_id")
        assert abs(len(in_test) - n_persons / 5) <= 1
        assert abs(in_test["event"].sum() - n_event / 5) <= 1


def test_folds_depend_on_the_seed_and_only_on_it() -> None:
    frame = _frame()
    split = Split("cv", folds=3)

    def tests(seed: int) -> list[list[int]]:
        return [test.tolist() for _, test in split_rows(split, frame, seed=seed)]

    assert tests(0) == tests(0) and tests(0) != tests(1)


def test_too_few_persons_with_an_event_for_the_folds_raises() -> None:
    frame = _frame(n_persons=12)  # 4 persons with an event
    with pytest.raises(
        SplitError,
        match=r"5-fold cross-validation needs at least 5 persons with an event and 5 without; "
        r"the dataset has 4 of 12 persons with an event \(\d+ rows\)",
    ):
        split_rows(Split("cv", folds=5), frame, seed=0)


def test_temporal_split_sends_each_person_to_the_side_of_their_first_index_date() -> None:
    frame = _frame()
    [(train, test)] = split_rows(Split("temporal", cutoff=CUTOFF), frame, seed=0)
    first = frame.groupby("person_id")["index_date"].min()
    for row in train:
        person, day = frame.loc[row, ["person_id", "index_date"]]
        assert first[person] < CUTOFF and day < CUTOFF
    for row in test:
        assert first[frame.loc[row, "person_id"]] >= CUTOFF  # all their rows, from the first
    later = [first[p] >= CUTOFF for p in frame["person_id"]]
    assert sorted(test.tolist()) == [i for i, is_later in enumerate(later) if is_later]


def test_rows_of_early_persons_on_or_after_the_cutoff_are_used_on_neither_side() -> None:
    frame = _frame()
    first = frame.groupby("person_id")["index_date"].transform("min")
    unused = int(((first < CUTOFF) & (frame["index_date"] >= CUTOFF)).sum())
    assert unused > 0  # the frame has such rows
    split = Split("temporal", cutoff=CUTOFF)
    [(train, test)] = split_rows(split, frame, seed=0)
    assert temporal_overlap(split, frame) == unused == len(frame) - len(train) - len(test)
    assert temporal_overlap(Split("cv"), frame) == 0


def test_a_row_on_the_cutoff_day_is_tested() -> None:
    frame = pd.DataFrame(
        {
            "person_id": [1, 2, 3],
            "index_date": [dt.date(2019, 12, 31), CUTOFF, dt.date(2020, 1, 2)],
            "event": [1, 0, 1],
            "time": 10.0,
        }
    )
    [(train, test)] = split_rows(Split("temporal", cutoff=CUTOFF), frame, seed=0)
    assert train.tolist() == [0] and test.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("cutoff", "side"), [("2030-01-01", "on or after"), ("2000-01-01", "before")]
)
def test_temporal_split_with_an_empty_side_raises(cutoff: str, side: str) -> None:
    with pytest.raises(SplitError, match=f"no persons are first indexed {side} it"):
        split_rows(parse_split(f"temporal:{cutoff}"), _frame(), seed=0)


def test_no_split_gives_no_folds() -> None:
    assert split_rows(Split("none"), _frame(), seed=0) == []


def test_without_person_ids_each_row_is_its_own_person() -> None:
    frame = _frame().drop(columns="person_id")
    assert persons_of(frame).tolist() == list(range(len(frame)))


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("cv", Split("cv", folds=5)),
        ("cv:3", Split("cv", folds=3)),
        ("temporal:2020-01-01", Split("temporal", cutoff=CUTOFF)),
        ("none", Split("none")),
    ],
)
def test_split_texts_are_parsed(text: str, split: Split) -> None:
    assert parse_split(text) == split


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cv:1", r"split 'cv:1': use cv or cv:K with K >= 2 folds"),
        ("cv:x", r"split 'cv:x': use cv or cv:K with K >= 2 folds"),
        ("temporal:2020-13-01", r"split 'temporal:2020-13-01': use temporal:YYYY-MM-DD"),
        ("none:1", r"unknown split 'none:1'; use cv, cv:K, temporal:YYYY-MM-DD or none"),
        ("holdout", r"unknown split 'holdout'"),
    ],
)
def test_a_bad_split_text_names_itself_and_the_valid_forms(text: str, message: str) -> None:
    with pytest.raises(SplitError, match=message):
        parse_split(text)
