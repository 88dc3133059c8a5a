"""The ``mirrordb`` command: subcommands named after PostgreSQL's tools."""

from __future__ import annotations

import argparse
import logging
import sys

from mirrordb.cli import ctl
from mirrordb.common.errors import MirrordbError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirrordb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    initdb = commands.add_parser("initdb", help="create a new database cluster")
    initdb.add_argument("-D", "--pgdata", required=True, help="location of the new cluster")
    initdb.add_argument("-U", "--username", default="postgres", help="database superuser name")
    initdb.add_argument("--wal-segsize", type=int, default=16, help="WAL segment size in MB")
    initdb.add_argument("-A", "--auth", default="trust", help="default authentication method")
    initdb.add_argument("-N", "--no-sync", dest="sync", action="store_false",
                        help="do not wait for the files to be written safely to disk")
    compare = commands.add_parser("compare", help="compare two stopped clusters page by page")
    compare.add_argument("left")
    compare.add_argument("right")
    compare.add_argument("-q", "--quiet", action="store_true", help="print differences only")
    ctl.register(commands)
    from mirrordb.cli import basebackup
    basebackup.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["server"]:
        args = ctl.server_parser().parse_args(ctl.normalize_server_arguments(arguments[1:]))
    else:
        args = build_parser().parse_args(arguments)
    if args.command in ctl.COMMANDS:
        return ctl.run(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(threadName)s] %(message)s")
    try:
        if args.command == "initdb":
            from mirrordb.cli.initdb import initdb
            system_identifier = initdb(args.pgdata, args.username, args.wal_segsize, args.auth,
                                       args.sync)
            print(f"Success. Database cluster {args.pgdata} created "
                  f"(system identifier {system_identifier}).")
            return 0
        if args.command == "basebackup":
            from mirrordb.cli import basebackup
            return basebackup.run(args)
        if args.command == "compare":
            from mirrordb.cli.compare import run
            return run(args.left, args.right, verbose=not args.quiet)
    except MirrordbError as error:
        print(f"mirrordb {args.command}: error: {error.message}", file=sys.stderr)
        if error.detail:
            print(f"DETAIL:  {error.detail}", file=sys.stderr)
        if error.hint:
            print(f"HINT:  {error.hint}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
