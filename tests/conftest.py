"""Shared test data: the ids of every registered family."""

import metarl

ALL_IDS = list(metarl.registered_families())
