"""A test run spread over cores (pytest-xdist): one Redis database per worker."""
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16


def redis_url_for_worker(url: str, worker: str) -> str:
    """`url` with its database moved down by the worker's number ("gw1" -> one below), so
    workers never flush each other's token buckets and marks."""
    number = int(worker.removeprefix("gw") or 0)
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(database - number) % REDIS_DATABASES}"))
