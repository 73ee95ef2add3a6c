"""Hypothesis profiles (registered in :mod:`impl.machinery.conformance`): ``ci`` by default, derandomized
and bounded; ``long`` for the ``slow`` tests, or for everything with HYPOTHESIS_PROFILE=long."""

from __future__ import annotations

import os

from hypothesis import settings

import impl.machinery.conformance  # noqa: F401  (registers the profiles)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
