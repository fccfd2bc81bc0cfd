"""With FITGLME_RECORD_ESTIMATES=<file>, record every model fitted by the compat tests
(compat_tests/estimates.py: the cross-kernel check of .ci/run)."""
from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

_OUT = os.environ.get("FITGLME_RECORD_ESTIMATES")


if _OUT:
    from fitglme.model import GeneralizedLinearMixedModel

    from .estimates import summarize

    _records: dict[str, dict] = {}
    _counts: defaultdict[str, int] = defaultdict(int)
    _original = GeneralizedLinearMixedModel.from_request.__func__

    def _recording(cls, *args, **kwargs):
        glme = _original(cls, *args, **kwargs)
        test = os.environ.get("PYTEST_CURRENT_TEST", "outside a test").rsplit(" ", 1)[0]
        if not test.startswith("compat_tests/"):
            return glme  # (the hook is process-wide; only the compat tests' fits are compared)
        _counts[test] += 1
        _records[f"{test} #{_counts[test]}"] = summarize(glme)
        return glme

    GeneralizedLinearMixedModel.from_request = classmethod(_recording)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(session, exitstatus):
        with open(_OUT, "w") as fh:
            json.dump(_records, fh, indent=0, sort_keys=True)
