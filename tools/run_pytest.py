"""Run pytest and fail when it collected nothing: CI must not pass on an empty suite."""

import sys

import pytest

if __name__ == "__main__":
    code = pytest.main(sys.argv[1:])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("error: pytest collected no tests", file=sys.stderr)
        code = 1
    sys.exit(int(code))
