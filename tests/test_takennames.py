"""``TakenNames``: a node's taken names as bits of their numbers, behaving as the set of names it
replaced (``add``, ``in``, ``len``), for any name a walk can give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore.engine.cook.takennames import MAX_BIT, TakenNames

NAMES = st.one_of(
    st.integers(min_value=0, max_value=5_000).map(lambda n: f"upper_{n}"),
    st.integers(min_value=MAX_BIT - 2, max_value=MAX_BIT + 2).map(lambda n: f"upper_{n}"),
    st.sampled_from(["upper_01", "upper_00", "upper_0", "upper_-3", "upper_", "upper_٣", "upper_3_7", "other_3",
                     "upper", "upper_ 3", "upper_+3"]),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), NAMES), max_size=60))
def test_taken_names_behave_as_the_set_of_names(ops):
    taken, names = TakenNames("upper"), set()
    for adding, name in ops:
        if adding:
            taken.add(name)
            names.add(name)
        assert (name in taken) == (name in names)
        assert len(taken) == len(names)
    for _, name in ops:
        assert name in taken if name in names else name not in taken


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=MAX_BIT + 3), max_size=60))
def test_take_number_takes_the_name_the_engine_writes_once(numbers):
    taken, names = TakenNames("upper"), set()
    for number in numbers:
        name = f"upper_{number}"
        assert taken.take_number(number) == (name not in names)
        names.add(name)
        assert name in taken and len(taken) == len(names)


def test_a_name_of_another_shape_is_not_its_number():
    taken = TakenNames("upper")
    taken.add("upper_07")
    assert "upper_07" in taken and "upper_7" not in taken
    assert taken.take_number(7) and len(taken) == 2
    assert 7 not in taken and None not in taken  # not a name
