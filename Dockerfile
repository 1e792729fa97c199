FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY emulators ./emulators
COPY mappings ./mappings
RUN pip install . && useradd --create-home --uid 10001 gateway \
    && mkdir -p /var/lib/invoice-gateway && chown gateway /var/lib/invoice-gateway

# The configuration is mounted, never baked in: the repository's example config.yaml holds the
# published sandbox key. Try it with `docker run IMAGE invoice-gateway serve --sandbox --host 0.0.0.0`.
# A SQLite store must be somewhere the gateway user may write, and kept: a relative store.url is
# read beside the configuration (/etc/invoice-gateway, not writable here), so give it
# `sqlite:////var/lib/invoice-gateway/store.db` and mount a volume there (or use PostgreSQL).
# Run with --read-only, give it a writable /tmp (--tmpfs /tmp): the sandbox keeps its store there,
# and several workers their metrics.
VOLUME /var/lib/invoice-gateway
USER gateway
EXPOSE 8080
CMD ["invoice-gateway", "serve", "--config", "/etc/invoice-gateway/config.yaml", "--host", "0.0.0.0", "--port", "8080"]
