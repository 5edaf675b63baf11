# The two commands of the README. Both set everything up on a fresh machine.
#   make demo   run the main job on the embedded local stack
#   make test   run the test suite
# make test-unit runs tests/unit only (no stack, no child processes), without the tests
# marked heavy (the PaddlePaddle engine); under a minute.
.PHONY: demo test test-unit env lock bench

env:
	@scripts/bootstrap.sh

demo: env
	.venv/bin/ocrstream demo

test: env
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-unit: env
	.venv/bin/python -m pytest tests/unit -m "not heavy" $(PYTEST_ARGS)

# Re-pin requirements.lock after changing pyproject.toml dependencies.
lock:
	uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
