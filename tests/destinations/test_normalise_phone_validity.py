"""The faster validity check behind ``normalise_phone`` gives exactly the library's answer."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audience_ops.destinations.normalise import _is_valid_number

# Calling codes shared by several regions (where the shortcut applies) and a few single-region ones.
REGIONS = ["US", "CA", "JM", "PR", "GB", "JE", "IM", "GG", "RU", "KZ", "NO", "SJ", "FI", "AX", "MA", "EH", "DE", "FR"]


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_example_numbers_of_every_region_and_type(region):
    for number_type in range(12):
        example = phonenumbers.example_number_for_type(region, number_type)
        if example is not None:
            assert _is_valid_number(example) == phonenumbers.is_valid_number(example), (region, number_type)


@settings(max_examples=2000, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    prefix=st.sampled_from(["", "+1", "+44", "+7", "+47", "+358", "+212", "0", "00"]),
    digits=st.text(alphabet="0123456789", min_size=4, max_size=13),
)
def test_any_parsed_number(region, prefix, digits):
    try:
        number = phonenumbers.parse(prefix + digits, region)
    except phonenumbers.NumberParseException:
        return
    assert _is_valid_number(number) == phonenumbers.is_valid_number(number)
