"""The champion under contention: runs registering at the same instant against a real tracking
server, a bare `mlflow server` on sqlite and the team server on PostgreSQL (with sign-in). Four
threads, each with its own client (so its own HTTP connections), register a version and apply
the champion rule at once, 20 times over (6 on the team server, where checking each request's
password makes a round slower)."""

import random
import threading

import pytest

from helpers.team_server import sign_in
from textclf.tracking.champion import register_candidate
from textclf.tracking.ownership import this_process

RACERS = 4


@pytest.mark.parametrize("server, trials", [pytest.param(server, trials, marks=pytest.mark.xdist_group(server))
                                            for server, trials in (("tracking_server", 20), ("team_server", 6))])
def test_four_registrations_at_once_leave_the_best_as_champion(request, monkeypatch, server, trials):
    from mlflow.tracking import MlflowClient

    url, _ = request.getfixturevalue(server)
    if server == "team_server":
        sign_in(monkeypatch)
    setup = MlflowClient(url)
    experiment = setup.create_experiment("champion-race")
    rng = random.Random(0)
    for trial in range(trials):
        name = f"race-{trial}"
        setup.create_registered_model(name)
        scores = rng.sample([0.80, 0.85, 0.88, 0.90, 0.93, 0.95], RACERS)
        runs = []
        for score in scores:
            run = setup.create_run(experiment)
            setup.log_metric(run.info.run_id, "validation/macro_f1", score)
            runs.append(run.info.run_id)
        start = threading.Barrier(RACERS)
        reports = [None] * RACERS

        def race(i: int) -> None:
            client = MlflowClient(url)

            def create_version() -> str:
                return client.create_model_version(name, source=f"runs:/{runs[i]}/model", run_id=runs[i]).version

            start.wait()
            try:
                reports[i] = register_candidate(client, name, "champion", "validation/macro_f1", scores[i],
                                                this_process(), create_version,
                                                lambda: client.set_terminated(runs[i], "FINISHED"))
            except Exception as error:  # noqa: BLE001 - reported below, with the trial
                reports[i] = error

        threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        failures = [report for report in reports if not hasattr(report, "promoted")]
        assert not failures, (trial, failures)
        best = max(range(RACERS), key=lambda i: scores[i])
        holder = setup.get_model_version_by_alias(name, "champion")
        assert holder.run_id == runs[best], (trial, scores, [r.version for r in reports])
        says_champion = [run for run in runs if setup.get_run(run).data.tags.get("champion") == "true"]
        assert says_champion == [runs[best]], (trial, scores)
        # The lock puts the registrations in one order (their version numbers). A run reports
        # "promoted" exactly when it beat every version registered before it; the best always does.
        order = sorted(range(RACERS), key=lambda i: int(reports[i].version))
        record = float("-inf")
        for i in order:
            assert reports[i].promoted == (scores[i] > record), (trial, scores, order)
            record = max(record, scores[i])
        assert reports[best].promoted
        assert not setup.search_registered_models(f"name LIKE '{name}.textclf-lock%'")
