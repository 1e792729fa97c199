FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY emulators ./emulators
COPY mappings ./mappings
COPY config.yaml ./config.yaml
RUN pip install . && useradd --create-home --uid 10001 gateway

USER gateway
EXPOSE 8080
CMD ["invoice-gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
