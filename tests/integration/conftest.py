"""The runtime on moto, in process: the store, the HTTP surface through chalice.test.Client,
the scheduled jobs, faults injected under the SDK, the embedded backend's transaction rules.
Every test gets its own moto account and the real table definition (tests/conftest.py)."""

import os

from hypothesis import settings

# The property-based tests' examples: 25 each in make test, 5 in make test-fast (which sets
# HYPOTHESIS_PROFILE=fast); a failing example found either way is replayed first next time.
settings.register_profile("full", max_examples=25)
settings.register_profile("fast", max_examples=5)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))
