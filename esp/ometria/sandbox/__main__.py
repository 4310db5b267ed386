"""Run the demo sandbox: `python -m esp.ometria.sandbox --port 8103`.

The API key comes from the environment variable named by --key-env, as in production;
point the account's base_url at `http://HOST:PORT`.
"""

from __future__ import annotations

import argparse
import os

from syncapp.sandbox_server import serve_forever

from . import build_demo_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--key-env", default="OMETRIA_SANDBOX_API_KEY")
    parser.add_argument("--validation-delay", type=float, default=2.0)
    parser.add_argument("--error-paths", choices=("record", "root", "index"), default="record",
                        help="'root': error paths as Ometria documents them ('root > email'), naming no record; "
                             "'index': by the record's place in its call ('root[0] > email')")
    parser.add_argument("--errors-newest-first", action="store_true", help="list errors newest first")
    args = parser.parse_args()
    key = os.environ.get(args.key_env)
    if not key:
        raise SystemExit(f"Set {args.key_env} to the sandbox's API key.")
    print(f"Ometria sandbox on http://{args.host}:{args.port}")
    sandbox = build_demo_sandbox(key, validation_delay=args.validation_delay, error_paths=args.error_paths,
                                 errors_newest_first=args.errors_newest_first)
    serve_forever(sandbox, args.host, args.port)


if __name__ == "__main__":
    main()
