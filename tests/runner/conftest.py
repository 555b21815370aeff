from __future__ import annotations

import pytest


@pytest.fixture(params=["inline", "ray"])
def executor(request):
    """Every conformance test runs on both executors."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param
