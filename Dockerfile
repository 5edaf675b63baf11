# ocrstream image: one image, every role (worker, sink, serve, generate, migrate, topics).
#
#   docker build -t ocrstream .
#   docker run --rm ocrstream ocrstream --help
#
# requirements.lock (repo root, `uv pip compile pyproject.toml --extra dev ...`) is used
# as a constraints file: only the project's runtime dependencies are installed, at
# exactly the pinned versions (the dev extra in the lock is not installed).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    OCRSTREAM_PROFILE=production \
    OCRSTREAM_STATE_DIR=/var/lib/ocrstream

# tesseract-ocr-eng: the Tesseract engine; libgl1/libglib2.0-0/libgomp1: OpenCV and Paddle runtime libs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng libgl1 libglib2.0-0 libgomp1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, against an empty skeleton of the packages (this layer stays
# cached while only the code changes).
COPY requirements.lock pyproject.toml README.md ./
RUN mkdir -p ocrstream producers ocr_agents streams serving synth schemas clickhouse \
 && for p in ocrstream producers ocr_agents streams serving synth; do touch $p/__init__.py; done \
 && touch schemas/.keep clickhouse/.keep \
 && pip install -c requirements.lock . \
 && pip uninstall -y ocrstream \
 && rm -rf ocrstream producers ocr_agents streams serving synth schemas clickhouse

# The project itself (dependencies already satisfied at the pinned versions).
COPY schemas ./schemas
COPY clickhouse ./clickhouse
COPY ocrstream ./ocrstream
COPY streams ./streams
COPY producers ./producers
COPY ocr_agents ./ocr_agents
COPY serving ./serving
COPY synth ./synth
RUN pip install --no-deps -c requirements.lock . \

 && useradd --system --uid 10001 --home-dir /var/lib/ocrstream --create-home ocrstream

USER ocrstream
WORKDIR /var/lib/ocrstream
EXPOSE 8080
CMD ["ocrstream", "--help"]
