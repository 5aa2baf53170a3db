# Live Scoreboard: the production image (gunicorn with gevent workers, configured by environment).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /srv/scoreboard

# Dependencies first, pinned by the lock, so code changes reuse this layer; EXTRAS adds optional
# ones (`--build-arg EXTRAS=tracing` for OpenTelemetry).
ARG EXTRAS=""
COPY pyproject.toml constraints.txt ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [p['optional-dependencies'][e] for e in os.environ['EXTRAS'].split(',') if e]; \
print('\n'.join(p['dependencies'] + sum(extras, [])))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The app runs from its source tree (templates/, static/ and migrations/ sit beside app/).
COPY . .
RUN useradd --system --uid 10001 --home-dir /srv/scoreboard scoreboard \
    && mkdir -p instance \
    && chown scoreboard instance
USER scoreboard

EXPOSE 8000
# The release step (`flask --app wsgi:app db upgrade`) runs before this: see docker-compose.yml.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
