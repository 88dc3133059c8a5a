"""``mirrordb server | start | stop | restart | reload | status | promote``: PostgreSQL's
``postgres -D`` and ``pg_ctl``, with their options, messages and exit codes.

``server`` runs the postmaster (``server/postmaster.Server``) in the foreground on this
process's main thread, logging to stderr, until it is shut down. The others control a server
from outside, through the data directory only, as pg_ctl does:

* ``start`` launches ``python -m mirrordb.cli.main server -D DIR ...`` detached (its own session,
  stdin from /dev/null, output appended to ``-l LOGFILE`` or left on this terminal), then waits
  until ``postmaster.pid`` names that process with status ready and a connection to the socket it
  lists succeeds.
* ``stop`` sends SIGTERM (smart), SIGINT (fast, the default) or SIGQUIT (immediate) to the pid in
  ``postmaster.pid`` and waits until the file is gone or the process has exited.
* ``reload`` sends SIGHUP; ``restart`` is stop then start with the options recorded in
  ``postmaster.opts`` (unless ``-o`` gives new ones).
* ``status`` exits 0 if a server runs, 3 if not, 4 if the data directory is missing or is not a
  cluster (pg_ctl's codes).
* ``promote`` (a standby: pg_control says "in archive recovery") creates the ``promote`` file
  and sends SIGUSR1 to the postmaster (recovery/promote.py), then waits until pg_control says
  "in production" (``-W``: does not wait). The real ``pg_ctl promote`` does exactly this, so it
  works against a mirrordb standby too.

Waits poll the files every ``WAIT_POLL_INTERVAL_S`` for at most ``-t`` seconds (60 by default)
and print a dot per second, as pg_ctl does.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mirrordb.common.errors import MirrordbError
from mirrordb.recovery import promote as promotelib
from mirrordb.server import pidfile
from mirrordb.storage.control import DBState, read_control_file

if TYPE_CHECKING:
    import subprocess

PROGRAM = "mirrordb"
DEFAULT_WAIT_SECONDS = 60
WAIT_POLL_INTERVAL_S = 0.1
START_TIME_SLACK_S = 2            # pg_ctl accepts a pid file up to 2 s older than its launch
CONNECT_TIMEOUT_S = 1.0
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3
EXIT_NO_DATA_DIRECTORY = 4
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
# The server's interpreter: how long one busy thread (a backend, autovacuum, replay) may hold the
# GIL while another wants it. Python's default, 5 ms, is paid again at each system call of a
# thread that mostly waits on sockets and files (a walsender, the walreceiver), so a commit
# could wait several of them on its way to a standby.
SERVER_SWITCH_INTERVAL_S = 0.0005
# Imported before the server starts, so that ``gc.freeze()`` covers them: the engine, and what
# the first connection and a standby's threads would import moments later anyway (the server is
# busy from its start either way, so the order costs nothing). Not the walsender (with its
# replication command parser): a standby never runs one unless another standby or a base
# backup connects to it, and the first replication connection imports it (~5 ms).
SERVER_MODULES = ("mirrordb.engine", "mirrordb.server.backend", "mirrordb.recovery.standby",
                  "mirrordb.replication.walreceiver")
COMMANDS = ("server", "start", "stop", "restart", "reload", "status", "promote")


# -- argument parsing ----------------------------------------------------------------------------

def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the server and pg_ctl-style subcommands to ``mirrordb``'s parser."""
    _add_server_options(commands.add_parser("server", add_help=False,
                                            help="run the server in the foreground (postgres -D)"))
    for name, text in (("start", "start a server in the background and wait for it"),
                       ("stop", "stop a running server"),
                       ("restart", "stop, then start a server"),
                       ("reload", "make a running server reread its configuration"),
                       ("status", "tell whether a server is running"),
                       ("promote", "promote a standby to a primary")):
        parser = commands.add_parser(name, help=text)
        _add_datadir(parser)
        parser.add_argument("-s", "--silent", action="store_true", help="only print errors")
        parser.add_argument("-t", "--timeout", type=int, default=DEFAULT_WAIT_SECONDS,
                            help="seconds to wait")
        parser.add_argument("-w", "--wait", dest="wait", action="store_true", default=True,
                            help="wait until the operation completes (default)")
        parser.add_argument("-W", "--no-wait", dest="wait", action="store_false",
                            help="do not wait")
        if name in ("start", "restart"):
            parser.add_argument("-l", "--log", dest="logfile", help="append output to LOGFILE")
            parser.add_argument("-o", "--options", dest="options", default=None,
                                help='server options, e.g. "-c name=value -p PORT"')
        if name in ("stop", "restart"):
            parser.add_argument("-m", "--mode", choices=tuple(STOP_SIGNALS), default="fast",
                                help="shutdown mode")


def server_parser() -> argparse.ArgumentParser:
    """``mirrordb server``'s options alone: the server's own start parses only these (building
    every subcommand's parser costs ~3 ms of the start-up CPU a standby's catch-up pays)."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} server", add_help=False)
    parser.set_defaults(command="server")
    _add_server_options(parser)
    return parser


def _add_server_options(server: argparse.ArgumentParser) -> None:
    server.add_argument("--help", action="help", help="show this help message and exit")
    _add_datadir(server)
    server.add_argument("-c", dest="settings", action="append", default=[],
                        metavar="NAME=VALUE", help="set a configuration setting")
    server.add_argument("-p", dest="port", help="port to listen on")
    server.add_argument("-k", dest="socket_directories", help="Unix-domain socket directories")
    server.add_argument("-h", dest="listen_addresses", help="addresses to listen on")
    server.add_argument("-N", dest="max_connections", help="maximum number of connections")
    server.add_argument("-B", dest="shared_buffers", help="shared buffers")


def _add_datadir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-D", "--pgdata", default=os.environ.get("PGDATA"),
                        help="data directory (default: $PGDATA)")


def normalize_server_arguments(argv: list[str]) -> list[str]:
    """``--name=value`` (postgres's long form of ``-c``) becomes ``-c name=value``."""
    result = []
    for argument in argv:
        if argument.startswith("--") and "=" in argument and \
                not argument.startswith(("--pgdata=", "--help=")):
            name, _, value = argument[2:].partition("=")
            result += ["-c", f"{name.replace('-', '_')}={value}"]
        else:
            result.append(argument)
    return result


def server_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The ``-c`` settings and the short options, as setting overrides."""
    overrides: dict[str, str] = {}
    for item in args.settings:
        name, separator, value = item.partition("=")
        if not separator:
            raise SystemExit(f'{PROGRAM} server: -c {item} requires a value')
        overrides[name.strip()] = value
    for option, name in (("port", "port"), ("socket_directories", "unix_socket_directories"),
                         ("listen_addresses", "listen_addresses"),
                         ("max_connections", "max_connections"),
                         ("shared_buffers", "shared_buffers")):
        value = getattr(args, option)
        if value is not None:
            overrides[name] = value
    return overrides


# -- dispatch -------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    """Run one of ``COMMANDS``; the process exit code."""
    if args.pgdata is None:
        _error("no database directory specified and environment variable PGDATA unset")
        return EXIT_FAILED
    datadir = os.path.abspath(args.pgdata)
    actions: dict[str, Callable[[str, argparse.Namespace], int]] = {
        "server": run_server, "start": start, "stop": stop, "restart": restart,
        "reload": reload, "status": status, "promote": promote}
    return actions[args.command](datadir, args)


def run_server(datadir: str, args: argparse.Namespace) -> int:
    """The foreground postmaster: log to stderr, return when it has shut down."""
    from mirrordb.server.postmaster import Server, configure_server_logging
    server: Server | None = None

    def minimum_level() -> str:
        return str(server.settings.get("log_min_messages")) if server is not None else "warning"

    configure_server_logging(sys.stderr, minimum_level)
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)
    # the imports make only objects that live as long as the server (modules, classes,
    # functions): no collection while they run (~85 young-generation passes, ~9 ms)
    gc.disable()
    for module in SERVER_MODULES:
        importlib.import_module(module)
    # ... and left out of the collector's passes from now on: a full collection no longer walks
    # them while every thread waits
    gc.freeze()
    gc.enable()
    code = EXIT_FAILED
    try:
        server = Server(datadir, server_overrides(args))
        code = server.run()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)   # backend threads of an immediate shutdown must not delay the exit


# -- start ----------------------------------------------------------------------------------------

def start(datadir: str, args: argparse.Namespace) -> int:
    if not _check_cluster(datadir):
        return EXIT_FAILED
    if os.path.exists(pidfile.data_directory_lock_path(datadir)):
        _error("another server might be running; trying to start server anyway")
    return _launch_and_wait(datadir, args.options or "", args)


def _launch_and_wait(datadir: str, options: str, args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "mirrordb.cli.main", "server", "-D", datadir]
    command += shlex.split(options)
    try:
        output = open(args.logfile, "ab") if args.logfile else None  # noqa: SIM115
    except OSError as error:
        _error(f'could not open log file "{args.logfile}": {error.strerror}')
        return EXIT_FAILED
    import subprocess  # only ``start`` launches a process: the server itself does without it
    launched_at = time.time()
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=output, start_new_session=True, close_fds=True)
    finally:
        if output is not None:
            output.close()
    if not args.wait:
        _say(args, "server starting")
        return EXIT_OK
    return _wait_for_start(datadir, process, launched_at, args)


def _wait_for_start(datadir: str, process: subprocess.Popen[bytes], launched_at: float,
                    args: argparse.Namespace) -> int:
    _say(args, "waiting for server to start...", end="")
    path = pidfile.data_directory_lock_path(datadir)

    def started_or_exited() -> bool:
        if process.poll() is not None:
            return True
        contents = pidfile.read_lock_file(path)
        return (contents is not None and contents.pid == process.pid and contents.is_ready
                and contents.start_time_s >= launched_at - START_TIME_SLACK_S
                and can_connect(contents))

    if not _poll_with_dots(args, started_or_exited):
        _say(args, " stopped waiting")
        _error("server did not start in time")
        return EXIT_FAILED
    if process.returncode is not None:
        _say(args, " stopped waiting")
        _error("could not start server\nExamine the log output.")
        return EXIT_FAILED
    _say(args, " done")
    _say(args, "server started")
    return EXIT_OK


def can_connect(contents: pidfile.LockFileContents) -> bool:
    """Whether a client can reach the server through the socket its lock file lists."""
    try:
        if contents.socket_directory:
            path = os.path.join(contents.socket_directory, f".s.PGSQL.{contents.port}")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(CONNECT_TIMEOUT_S)
                probe.connect(path)
        elif contents.listen_address:
            host = contents.listen_address
            host = "127.0.0.1" if host in ("*", "0.0.0.0") else "::1" if host == "::" else host
            socket.create_connection((host, contents.port), CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


# -- stop, restart, reload --------------------------------------------------------------------------

def _running_pid(datadir: str) -> int | None:
    """The pid in postmaster.pid, or None after printing pg_ctl's message."""
    path = pidfile.data_directory_lock_path(datadir)
    contents = pidfile.read_lock_file(path)
    if contents is None:
        _error(f'PID file "{path}" does not exist\nIs server running?')
        return None
    return contents.pid


def stop(datadir: str, args: argparse.Namespace) -> int:
    pid = _running_pid(datadir)
    if pid is None:
        return EXIT_FAILED
    try:
        os.kill(pid, STOP_SIGNALS[args.mode])
    except OSError as error:
        _error(f"could not send stop signal (PID: {pid}): {error.strerror}")
        return EXIT_FAILED
    if not args.wait:
        _say(args, "server shutting down")
        return EXIT_OK
    return _wait_for_stop(datadir, pid, args)


def _wait_for_stop(datadir: str, pid: int, args: argparse.Namespace) -> int:
    _say(args, "waiting for server to shut down...", end="")
    path = pidfile.data_directory_lock_path(datadir)

    def stopped() -> bool:
        contents = pidfile.read_lock_file(path)
        return contents is None or contents.pid != pid or not pidfile.process_is_alive(pid)

    if _poll_with_dots(args, stopped):
        _say(args, " done")
        _say(args, "server stopped")
        return EXIT_OK
    _say(args, " failed")
    _error("server does not shut down")
    if args.mode == "smart":
        print('HINT: The "-m fast" option immediately disconnects sessions rather than\n'
              "waiting for session-initiated disconnection.", file=sys.stderr)
    return EXIT_FAILED


def restart(datadir: str, args: argparse.Namespace) -> int:
    if not _check_cluster(datadir):
        return EXIT_FAILED
    from mirrordb.server.postmaster import read_options_file
    options = args.options
    if options is None:
        recorded = read_options_file(datadir)
        options = shlex.join(_without_datadir(recorded)) if recorded is not None else ""
    contents = pidfile.read_lock_file(pidfile.data_directory_lock_path(datadir))
    if contents is None:
        _error(f'PID file "{pidfile.data_directory_lock_path(datadir)}" does not exist\n'
               "Is server running?\ntrying to start server anyway")
    elif not pidfile.process_is_alive(contents.pid):
        _error(f"old server process (PID: {contents.pid}) seems to be gone\n"
               "starting server anyway")
    else:
        stop_args = argparse.Namespace(**{**vars(args), "wait": True})
        if stop(datadir, stop_args) != EXIT_OK:
            return EXIT_FAILED
    return _launch_and_wait(datadir, options, args)


def _without_datadir(arguments: list[str]) -> list[str]:
    result, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "-D":
            skip = True
        else:
            result.append(argument)
    return result


def reload(datadir: str, args: argparse.Namespace) -> int:
    pid = _running_pid(datadir)
    if pid is None:
        return EXIT_FAILED
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as error:
        _error(f"could not send reload signal (PID: {pid}): {error.strerror}")
        return EXIT_FAILED
    _say(args, "server signaled")
    return EXIT_OK


# -- promote ---------------------------------------------------------------------------------------

def promote(datadir: str, args: argparse.Namespace) -> int:
    """pg_ctl promote: the promote file and SIGUSR1, then wait for "in production"."""
    if not _check_cluster(datadir):
        return EXIT_FAILED
    pid = _running_pid(datadir)
    if pid is None:
        return EXIT_FAILED
    if _control_state(datadir) != DBState.DB_IN_ARCHIVE_RECOVERY:
        _error("cannot promote server; server is not in standby mode")
        return EXIT_FAILED
    signal_path = os.path.join(datadir, promotelib.PROMOTE_SIGNAL_FILE)
    try:
        promotelib.write_promote_signal_file(datadir)
    except MirrordbError as error:
        _error(f'could not create promote signal file "{signal_path}": {error.message}')
        return EXIT_FAILED
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError as error:
        _error(f"could not send promote signal (PID: {pid}): {error.strerror}")
        promotelib.remove_promote_signal_file(datadir)
        return EXIT_FAILED
    if not args.wait:
        _say(args, "server promoting")
        return EXIT_OK
    return _wait_for_promote(datadir, args)


def _wait_for_promote(datadir: str, args: argparse.Namespace) -> int:
    """pg_ctl's wait_for_postmaster_promote: until pg_control says "in production", the
    server is gone, or ``-t`` seconds pass."""
    _say(args, "waiting for server to promote...", end="")
    path = pidfile.data_directory_lock_path(datadir)

    def promoted_or_gone() -> bool:
        contents = pidfile.read_lock_file(path)
        return contents is None or not pidfile.process_is_alive(contents.pid) or \
            _control_state(datadir) == DBState.DB_IN_PRODUCTION

    if _poll_with_dots(args, promoted_or_gone) and \
            _control_state(datadir) == DBState.DB_IN_PRODUCTION:
        _say(args, " done")
        _say(args, "server promoted")
        return EXIT_OK
    _say(args, " stopped waiting")
    _error("server did not promote in time")
    return EXIT_FAILED


def _poll_with_dots(args: argparse.Namespace, condition: Callable[[], bool]) -> bool:
    """Call ``condition`` every ``WAIT_POLL_INTERVAL_S`` until it holds (True) or ``-t``
    seconds pass (False), printing a dot a second as pg_ctl does."""
    deadline = time.monotonic() + args.timeout
    next_dot = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() >= next_dot:
            _say(args, ".", end="")
            next_dot += 1.0
        if condition():
            return True
        time.sleep(WAIT_POLL_INTERVAL_S)
    return False


def _control_state(datadir: str) -> DBState | None:
    """pg_control's cluster state, or None if it cannot be read."""
    try:
        return read_control_file(datadir).state
    except MirrordbError:
        return None


# -- status -------------------------------------------------------------------------------------------

def status(datadir: str, args: argparse.Namespace) -> int:
    if not _check_cluster(datadir):
        return EXIT_NO_DATA_DIRECTORY
    contents = pidfile.read_lock_file(pidfile.data_directory_lock_path(datadir))
    if contents is not None and pidfile.process_is_alive(contents.pid):
        print(f"{PROGRAM}: server is running (PID: {contents.pid})")
        options = os.path.join(datadir, pidfile.OPTIONS_FILE_NAME)
        if os.path.exists(options):
            with open(options, encoding="utf-8") as handle:
                print(handle.read().rstrip("\n"))
        return EXIT_OK
    print(f"{PROGRAM}: no server running")
    return EXIT_NOT_RUNNING


def _check_cluster(datadir: str) -> bool:
    if not os.path.isdir(datadir):
        _error(f'directory "{datadir}" does not exist')
        return False
    if not os.path.exists(os.path.join(datadir, "PG_VERSION")):
        _error(f'directory "{datadir}" is not a database cluster directory')
        return False
    return True


def _say(args: argparse.Namespace, text: str, end: str = "\n") -> None:
    if not getattr(args, "silent", False):
        print(text, end=end, flush=True)


def _error(text: str) -> None:
    print(f"{PROGRAM}: {text}", file=sys.stderr, flush=True)
