# authserver as a container image: the package installed from this checkout, run as a non-root
# user, signing keys and the SQLite database on volumes.
#
#   docker build -t authserver .
#   docker run --rm -v authserver-keys:/data/keys -v authserver-db:/data/db \
#       -e AUTHSERVER_KEYS_PASSPHRASE -e AUTHSERVER_ISSUER=https://auth.example.com \
#       authserver db upgrade
#   docker run -d -p 8000:8000 -v authserver-keys:/data/keys -v authserver-db:/data/db \
#       -e AUTHSERVER_KEYS_PASSPHRASE -e AUTHSERVER_ISSUER=https://auth.example.com authserver
#
# - Production mode (the default) refuses to start without AUTHSERVER_KEYS_PASSPHRASE and with
#   an issuer that is not https (loopback excepted); AUTHSERVER_MODE=development is for laptops.
# - `serve` does not migrate: apply migrations with `docker run ... authserver db upgrade`
#   before the first start and after every new image, with the same volumes and environment.
# - Named volumes take this image's owner and modes. A bind mount must be owned by uid 10001,
#   mode 0700 for the keys: the server refuses keys that others can read.
# - Key commands (`docker exec <container> authserver keys rotate`) must run with the server's
#   environment: the same passphrase, TTLs and key settings (docs/keys.md).
# - For more than one container, use PostgreSQL (AUTHSERVER_DATABASE_URL=postgresql+psycopg://...)
#   with the database key store (AUTHSERVER_KEYS_STORE=database) and Redis
#   (AUTHSERVER_REDIS_URL): deploy/compose.yaml and docs/deployment.md. SQLite and the keys
#   volume suit a single container.
# See docs/configuration.md for every setting.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 authserver \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin authserver

# The wheel maps migrations/ into the package as authserver/_migrations (pyproject.toml).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY authserver/ authserver/
COPY migrations/ migrations/
RUN pip install --no-cache-dir . \
    && rm -rf /src

# Prepared before VOLUME: a fresh named volume copies this owner and mode.
WORKDIR /data
RUN mkdir -p /data/keys /data/db \
    && chown -R 10001:10001 /data \
    && chmod 0700 /data/keys /data/db

ENV AUTHSERVER_KEYS_DIR=/data/keys \
    AUTHSERVER_DATABASE_URL=sqlite:////data/db/authserver.db

VOLUME ["/data/keys", "/data/db"]

EXPOSE 8000

# python:3.11-slim has no curl or wget; urlopen raises (exit 1) on an error or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

USER 10001:10001

ENTRYPOINT ["authserver"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
