# LeakSentinel: the HTTP service, run as a non-root user, with its data in the volume /data.
#   docker build -t leaksentinel .
#   docker run -p 8000:8000 -v leaksentinel-data:/data leaksentinel
# SQLite in /data by default; PostgreSQL with -e LEAKSENTINEL_DATABASE_URL=postgresql+psycopg://...

# --- build: compile what has no wheel (pdqhash is C++) into a virtualenv -------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY api ./api
COPY service ./service
COPY storage ./storage
COPY cli ./cli
# Every dependency pinned by constraints.txt, so the image is reproducible.
RUN pip install -c constraints.txt . \
    && pip check

# --- run ---------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEAKSENTINEL_DATA_DIR=/data

RUN groupadd --system --gid 10001 leaksentinel \
    && useradd --system --uid 10001 --gid leaksentinel --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin leaksentinel \
    && mkdir /data \
    && chown leaksentinel:leaksentinel /data

COPY --from=build /opt/venv /opt/venv

USER leaksentinel
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# slim has no curl: ask /healthz with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# `serve` migrates the database before it starts listening.
CMD ["leaksentinel", "serve", "--host", "0.0.0.0", "--port", "8000"]
