"""The robustness suite's settings: the fuzz suite's size (the small tmpfs of the fault tests is tests/disk.py)."""

from __future__ import annotations

import os

# The fuzz suite's size: the default run stays short (CI); `HYPOTHESIS_PROFILE=long make test` or
# `.venv/bin/python -m pytest tests/robustness -p no:cacheprovider` with that variable tries many more inputs.
try:
    from hypothesis import HealthCheck, settings

    _QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
    for _name, _count in (("default", 40), ("medium", 300), ("long", 2000)):
        settings.register_profile(_name, max_examples=_count, deadline=None, suppress_health_check=_QUIET)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # hypothesis is a test tool (dev group); without it the fuzz tests skip
    pass
