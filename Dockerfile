# One image for every role (web, worker, gpu-worker, beat); the command picks the role.
# DEBUG is off (the default): SECRET_KEY and ALLOWED_HOSTS come from the environment (docker-compose.yml, .env).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 DATA_DIR=/data STATIC_ROOT=/app/static
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# With DEBUG off, as the image runs: the manifest storage writes the hashed names the pages ask for. The
# files stay in the image (STATIC_ROOT), not in the data volume, where an older image's would outlive it.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
EXPOSE 8000
# granian, a WSGI server whose HTTP handling is Rust: 19 ms of web CPU per annotation loop where gunicorn's
# gthread workers took 26 (benchmarks/api_load.py). Few threads per process: more wait on each other's GIL
# (on 2 cores at 50 loops/s, p99 70 ms with 3 x 2, 300 ms with 2 x 8). --workers: about one per core, plus one.
CMD ["granian", "--interface", "wsgi", "config.wsgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "3", "--blocking-threads", "2", "--respawn-failed-workers"]
