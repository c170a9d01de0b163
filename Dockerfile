# Head Start — the app and its dispatcher. Build: docker build -t headstart .
# Run:   docker run -p 8501:8501 -v headstart-data:/data headstart
# Demo:  docker run -p 8501:8501 -e HEADSTART_MODE=demo -e HEADSTART_PASSWORD=... headstart
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends curl git \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 headstart
WORKDIR /app

# The README's install step (a test keeps the two the same); requirements.txt installs this project too.
COPY --chown=headstart:headstart . .
RUN pip install --no-cache-dir -r requirements.txt
RUN mkdir -p /data && chown headstart:headstart /data
USER headstart
ENV HEADSTART_STORE=/data/headstart-store HEADSTART_CACHE=/data/cache PYTHONUNBUFFERED=1

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD curl --fail http://localhost:8501/_stcore/health || exit 1
ENTRYPOINT ["./docker/entrypoint.sh"]
