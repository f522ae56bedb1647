"""``textclf server start | status | stop --data DIR``: see ``textclf.server.control``."""

from __future__ import annotations

import shlex
import sys

from textclf.errors import UserError

NOT_RUNNING_EXIT = 3  # as `pg_ctl status` and LSB init scripts: "not running"
NOT_ANSWERING_EXIT = 1  # running, but /health does not answer: a monitoring script's alarm too


def server(args) -> None:
    from textclf.server.control import ADMIN, PASSWORD_ENV, TeamServer

    team_server = TeamServer(args.data)
    if args.action == "start":
        team_server.check_can_start(args.host, args.port)  # bad input: one line, before anything starts
        print(f"starting PostgreSQL and MLflow's server from {team_server.data} ...", file=sys.stderr, flush=True)
        state = team_server.start(args.host, args.port)
        print(f"running at {state.url} (logs in {team_server.logs})")
        print(f"point clients at it: export MLFLOW_TRACKING_URI={shlex.quote(state.url)} MLFLOW_TRACKING_USERNAME={ADMIN} "
              f"{PASSWORD_ENV}=...")
    elif args.action == "status":
        running, healthy, line = team_server.status()
        print(line)
        if not running:
            raise SystemExit(NOT_RUNNING_EXIT)
        if not healthy:
            raise SystemExit(NOT_ANSWERING_EXIT)
    elif args.action == "stop":
        if not team_server.data.is_dir():
            raise UserError(f"server folder {team_server.data} does not exist. Fix: pass the --data of the server")
        print("stopped" if team_server.stop() else f"not running (server folder {team_server.data})")
