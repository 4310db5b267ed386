FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY syncapp ./syncapp
COPY erp ./erp
COPY esp ./esp
COPY exceptions ./exceptions
COPY audit ./audit
COPY templates ./templates
COPY manage.py ./
RUN pip install --no-cache-dir . gunicorn
ENV SYNC_VAR_DIR=/var/lib/sync
EXPOSE 8000
