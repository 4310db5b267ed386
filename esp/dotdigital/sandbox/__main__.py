"""Run the demo sandbox: `python -m esp.dotdigital.sandbox --port 8025`.

The password comes from the environment variable named by --password-env, as in
production; point the account at `http://HOST:PORT/{region}`.
"""

from __future__ import annotations

import argparse
import os

from syncapp.sandbox_server import serve_forever

from . import build_demo_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--password-env", default="DOTDIGITAL_SANDBOX_PASSWORD")
    parser.add_argument("--import-delay", type=float, default=2.0)
    args = parser.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        raise SystemExit(f"Set {args.password_env} to the sandbox API user's password.")
    app = build_demo_sandbox(password, import_delay_seconds=args.import_delay)
    print(f"dotdigital sandbox on http://{args.host}:{args.port}/r1")
    serve_forever(app, args.host, args.port)


if __name__ == "__main__":
    main()
