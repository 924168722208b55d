"""The run grid (vsalib.grid): the job list of `make results`, and jobs fanned out on a local Dask cluster of two
workers that lose one worker mid-job and still write every record once."""

import json
import os
import signal
import threading
import time

import pytest

from vsalib import grid
from vsalib.results import ResultStore

CONFIGS = {"sun2016": ("sun2016_affective_regions.ipynb", [{"dataset": "twitter1", "subset": "five"},
                                                          {"dataset": "twitter2"}]),
           "regions-help": ("sun2016_affective_regions.ipynb", [
               {"dataset": "twitter1", "subset": "four", "seeds": [0, 1, 2]},
               {"dataset": "twitter1", "subset": "five", "scoring": "crop"}])}


def test_the_job_list_is_one_job_per_configuration_and_seed():
    jobs, finals = grid.notebook_jobs(configs=CONFIGS, available=lambda d: d == "twitter1")
    assert [j.params.get("seeds") for j in jobs] == [None, [0], [1], [2], None]  # twitter2 is not here
    assert [j.name for j in jobs][1:4] == [f"regions-help_cpu_twitter1_four_seed{s}.ipynb" for s in range(3)]
    assert all(j.params["profile"] == "cpu" for j in jobs)
    # after the grid, a configuration split by seed runs its notebook once over all its seeds (it reads the
    # store); a configuration of one job is its own chapter run
    assert [f.name for f in finals] == ["regions-help_cpu_twitter1_four.ipynb"]
    assert finals[0].params["seeds"] == [0, 1, 2] and jobs[0].name == "sun2016_cpu_twitter1_five.ipynb"
    only, _ = grid.notebook_jobs(["regions-help"], configs=CONFIGS, subsets=["five"], available=lambda d: True)
    assert [j.params.get("scoring") for j in only] == ["crop"]
    with pytest.raises(ValueError, match="unknown chapter 'nope'; valid: sun2016, regions-help"):
        grid.notebook_jobs(["nope"], configs=CONFIGS)


def test_the_local_cluster_runs_one_job_per_two_cores_or_per_gpu():
    assert grid.local_cluster_size(2) == {"n_workers": 1, "threads_per_worker": 1}  # a laptop: one job at a time
    assert grid.local_cluster_size(16)["n_workers"] == 8
    assert grid.local_cluster_size(16, gpus=4)["n_workers"] == 4


def test_a_failed_job_is_reported_with_its_log_and_the_rest_go_on(tmp_path):
    bad = grid.FoldJob("majority", "synthetic", seed=0, fold=9, subset="binary",
                       dataset_kwargs={"n_images": 16, "size": 32, "cache_dir": str(tmp_path / "c")},
                       results_dir=str(tmp_path / "r"))
    res = grid.execute(bad, str(tmp_path / "nb"), str(tmp_path / "state"))
    assert res["status"] == "failed" and "fold 9" in res["error"]
    assert "Traceback" in open(res["log"], encoding="utf-8").read()
    good = grid.FoldJob("majority", "synthetic", seed=0, fold=1, subset="binary",
                        dataset_kwargs={"n_images": 16, "size": 32, "cache_dir": str(tmp_path / "c")},
                        results_dir=str(tmp_path / "r"))
    from vsalib import provenance

    assert grid.execute(good, str(tmp_path / "nb"), str(tmp_path / "state"))["status"] == "done"
    clean = not provenance.code_version()["dirty"]
    assert grid.execute(good, str(tmp_path / "nb"), str(tmp_path / "state"))["status"] == ("skipped" if clean else "done")
    assert grid.execute(good, str(tmp_path / "nb"), str(tmp_path / "state"), force=True)["status"] == "done"
    assert len(ResultStore(tmp_path / "r")) == 1


@pytest.mark.slow
def test_two_workers_lose_one_mid_job_and_write_every_record_once(tmp_path):
    from distributed import Client, LocalCluster

    data = {"n_images": 32, "size": 32, "cache_dir": str(tmp_path / "c")}
    store = tmp_path / "r"
    jobs = [grid.FoldJob("global-frozen", "synthetic", seed=seed, fold=fold, subset="binary",
                         settings={"image_size": 64, "cache_dir": str(tmp_path / "c"), "progress": False},
                         dataset_kwargs=data, results_dir=str(store))
            for seed in (0,) for fold in range(4)]  # seven jobs on two workers: one is lost mid-grid
    jobs += [grid.FoldJob("majority", "synthetic", seed=0, fold=fold, subset="binary", dataset_kwargs=data,
                          results_dir=str(store)) for fold in range(3)]
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"})
    client = Client(cluster)
    killed: list[int] = []

    def kill_a_busy_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy and len(ResultStore(store)) >= 2:  # mid-grid: some records written, jobs running
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.2)

    try:
        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        results = grid.run_grid(jobs, client=client, out_dir=tmp_path / "nb", state_dir=tmp_path / "state",
                                progress=False)
        killer.join()
        assert killed, "no worker was killed"
        # every job finished: the one lost with its worker ran again elsewhere, resuming from the store; a job whose
        # result the dead worker held is run again and finds its marker ("skipped")
        assert {r["status"] for r in results} <= {"done", "skipped"} and len(results) == len(jobs)
        names = sorted(p.name for p in ResultStore(store).files())
        assert len(names) == len(set(names)) == len(jobs)  # one record per job: none lost, none twice
        keys = [json.loads(p.read_text())["key"] for p in ResultStore(store).files()]
        assert len(set(keys)) == len(jobs)
        again = grid.run_grid(jobs, client=client, out_dir=tmp_path / "nb", state_dir=tmp_path / "state",
                              progress=False)
        from vsalib import provenance

        # idempotent: at a clean commit a finished job is not run again; in a tree with uncommitted changes it
        # runs, and its fold runner reads every record back from the store
        clean = not provenance.code_version()["dirty"]
        assert {r["status"] for r in again} == ({"skipped"} if clean else {"done"})
        assert sorted(p.name for p in ResultStore(store).files()) == names
    finally:
        client.close()
        cluster.close()
