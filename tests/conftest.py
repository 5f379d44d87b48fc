"""Shared fixtures: the registered family ids."""

import metarl

ALL_IDS = list(metarl.registered_families())
