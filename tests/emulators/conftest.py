"""Failed asserts inside the shared ``_*_support`` helpers are explained as in the tests."""

import pytest

pytest.register_assert_rewrite(
    "tests.emulators._bill_crm_support",
    "tests.emulators._crm_v1_support",
    "tests.emulators._draft_publish_support",
    "tests.emulators._item_envelope_support",
    "tests.emulators._order_linked_support",
)
