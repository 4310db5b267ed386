FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY syncapp ./syncapp
COPY erp ./erp
COPY esp ./esp
COPY exceptions ./exceptions
COPY audit ./audit
COPY accounts ./accounts
COPY reports ./reports
COPY consent ./consent
COPY engagement ./engagement
COPY templates ./templates
COPY manage.py ./
RUN pip install --no-cache-dir . gunicorn
ENV SYNC_VAR_DIR=/var/lib/sync
# The app runs as an unprivileged user, so a flaw in it cannot rewrite the installed code
# or the system; it owns only its var directory (the settings create folders there).
RUN groupadd --system --gid 10001 sync \
    && useradd --system --uid 10001 --gid sync --home-dir /var/lib/sync --shell /usr/sbin/nologin sync \
    && mkdir -p /var/lib/sync && chown sync:sync /var/lib/sync
USER 10001:10001
EXPOSE 8000
