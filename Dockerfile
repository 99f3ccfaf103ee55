# goodstanding: the gateway image. Small (python slim, wheels built in a first stage, no
# compiler in the result), runs as a non-root user, with a health check on /healthz.
# The first stage is the full python image for its C compiler: the detectors' hot loops
# (src/goodstanding/detect/_native.c) are compiled into goodstanding's wheel there; without
# them the gateway would run, at about three times the detectors' CPU.
#   docker build -t goodstanding .
#   docker run -p 8700:8700 -e OPENAI_API_KEY -e GOODSTANDING_SECRET goodstanding
# The same command runs in tests/test_deploy.py (the ENTRYPOINT and CMD below, the HEALTHCHECK
# against it); compose.yaml and deploy/k8s/ use this image.

FROM python:3.12 AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# every wheel the gateway needs, PostgreSQL, Redis and the detectors' full layer included
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[full,postgres,redis]"

FROM python:3.12-slim
RUN useradd --system --uid 10001 --create-home --home-dir /app --shell /usr/sbin/nologin \
        goodstanding
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /app
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GOODSTANDING_DATABASE_URL=sqlite:////app/goodstanding.db
EXPOSE 8700
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/healthz', timeout=2)"]
ENTRYPOINT ["goodstanding"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8700", "--workers", "2"]
