"""The shared argument check: one rule and one message for a positive whole number."""

import numpy as np
import pytest

from d2lhelpers.validate import non_negative_int, positive_int


@pytest.mark.parametrize("value", [1, 7, 10**12, np.int64(3)])
def test_a_positive_whole_number_passes_and_comes_back_as_an_int(value):
    result = positive_int("batch_size", value)
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [0, -5, 2.5, 3.0, True, False, "8", None, float("nan")])
def test_anything_else_names_the_argument_the_value_and_what_is_expected(value):
    with pytest.raises(ValueError) as info:
        positive_int("num_epochs", value)
    assert str(info.value) == f"num_epochs must be a positive whole number, got {value!r}."


@pytest.mark.parametrize("value", [0, 1, 10**12, np.int64(0)])
def test_a_whole_number_from_zero_up_passes_as_an_int(value):
    result = non_negative_int("steps", value)
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [-1, 2.5, 0.0, True, "3", None])
def test_a_negative_or_non_whole_count_is_refused_by_name(value):
    with pytest.raises(ValueError) as info:
        non_negative_int("steps", value)
    assert str(info.value) == f"steps must be a whole number >= 0, got {value!r}."
