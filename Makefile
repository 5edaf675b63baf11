# The two commands of the README. Both set everything up on a fresh machine.
#   make demo   run the main job on the embedded local stack
#   make test   run the test suite
.PHONY: demo test env lock bench

env:
	@scripts/bootstrap.sh

demo: env
	.venv/bin/ocrstream demo

test: env
	.venv/bin/python -m pytest $(PYTEST_ARGS)

# Re-pin requirements.lock after changing pyproject.toml dependencies.
lock:
	uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
