"""The run grid: the real-data runs as independent jobs, fanned out by Dask distributed.

A job is one unit that can run anywhere the repository, its environment and the data are:

- :class:`NotebookJob`: one chapter configuration (:func:`vsalib.chapters.run_groups`) and one
  seed, i.e. one repetition of the chapter's protocol (its ``seeds`` parameter; the notebooks' ``folds`` is
  the k of k-fold, not a choice of folds), the chapter's notebook executed by papermill;
- :class:`FoldJob`: one registered method on one fold of one seed's splits, by the library's fold runner
  (:func:`vsalib.methods.base.run`).

Every job writes its records to one results store; the store's writes are atomic and a record's file is named
by its run's identity, so jobs running at once lose nothing and cannot write one run twice, and a job run again
(after a killed worker, or a second ``make results``) reads back what is stored instead of computing it again.
:func:`run_grid` submits the jobs to a Dask cluster: a :class:`distributed.LocalCluster` by default (one worker
per two cores, one job per worker: a 2-core laptop runs one job at a time), or the scheduler at an address
(``tcp://host:8786``) that a SLURM allocation (dask-jobqueue) or one worker per GPU serves (the book's page
*Rerunning the study* gives both recipes). A failed job is reported with its parameters and log while the others
go on; a progress bar counts jobs done, running and failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class NotebookJob:
    """One chapter configuration and one seed: ``notebook`` executed with ``params`` (``seeds`` among them)."""

    chapter: str
    notebook: str
    params: dict[str, Any]
    name: str

    def describe(self) -> str:
        return f"{self.chapter} {json.dumps(self.params, sort_keys=True)}"

    def run(self, out_dir: Path, log: Path) -> dict[str, Any]:
        """Execute the notebook in a fresh kernel (a child process); its output notebook goes to ``out_dir``,
        papermill's log and the cells' output to ``log``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / self.notebook), str(out_dir / self.name),
               "--cwd", str(ROOT / "notebooks"), "--log-output", "--no-progress-bar",
               "-y", json.dumps(self.params)]
        with open(log, "w", encoding="utf-8") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ,
                                  "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")})
        if proc.returncode:
            raise RuntimeError(f"papermill exited with {proc.returncode}")
        return {"output": str(out_dir / self.name)}


@dataclass(frozen=True)
class FoldJob:
    """One registered method (``method`` with ``settings``) on fold ``fold`` of the splits that ``seed`` draws
    from ``dataset`` (loaded with ``dataset_kwargs``) under ``protocol`` (its default where None)."""

    method: str
    dataset: str
    seed: int
    fold: int
    subset: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    results_dir: str | None = None  # the store (default $VSALIB_RESULTS where the job runs)

    @property
    def name(self) -> str:
        return f"{self.method}_{self.dataset}_{self.subset or 'all'}_seed{self.seed}_fold{self.fold}"

    def describe(self) -> str:
        return (f"{self.method} {json.dumps(self.settings, sort_keys=True)} on {self.dataset}"
                f"{'/' + self.subset if self.subset else ''} seed {self.seed} fold {self.fold}")

    def run(self, out_dir: Path, log: Path) -> dict[str, Any]:
        from vsalib.data import load_dataset, make_splits
        from vsalib.methods import base
        from vsalib.results import ResultStore

        with open(log, "w", encoding="utf-8") as fh:
            ds = load_dataset(self.dataset, **self.dataset_kwargs)
            splits = [s for s in make_splits(ds, seed=self.seed) if s.fold == self.fold]
            if not splits:
                raise ValueError(f"fold {self.fold}: seed {self.seed}'s splits of {self.dataset} have no such fold")
            method = base.create_method(self.method, **self.settings)
            records = base.run(method, ds, splits, subset=self.subset, store=ResultStore(self.results_dir),
                               progress=False)
            fh.write("".join(f"{r.key} {r.method} {json.dumps(r.metrics)}\n" for r in records))
        return {"records": [r.key for r in records]}


Job = NotebookJob | FoldJob


def notebook_jobs(chapters: Sequence[str] | None = None, *, profile: str = "cpu", datasets: Sequence[str] | None = None,
                  subsets: Sequence[str] | None = None, configs: dict | None = None,
                  available=None) -> tuple[list[NotebookJob], list[NotebookJob]]:
    """The grid of ``make results``: one job per chapter configuration and seed (a configuration without
    ``seeds`` is one job), and, for each configuration, the final run of its notebook over all its seeds that
    the grid executes once every seed's job is done (it reads the store: the executed chapter). ``configs``:
    ``{chapter: (notebook, [configuration, ...])}`` (default: every chapter's groups, :func:`vsalib.chapters.run_groups`); ``available``:
    which datasets are here (default :func:`vsalib.data.is_available`)."""
    from vsalib.data import is_available

    configs = _configs() if configs is None else configs
    available = is_available if available is None else available
    jobs, finals = [], []
    for chapter in chapters or list(configs):
        if chapter not in configs:
            raise ValueError(f"unknown chapter {chapter!r}; valid: {', '.join(configs)}")
        notebook, cfgs = configs[chapter]
        for cfg in cfgs:
            if (datasets and cfg["dataset"] not in datasets) or (subsets and cfg.get("subset") not in subsets) \
                    or not available(cfg["dataset"]):
                continue
            base_name = run_name(chapter, profile, cfg)
            params = {"profile": profile, **cfg}
            for seed in cfg.get("seeds") or [None]:
                if seed is None:
                    jobs.append(NotebookJob(chapter, notebook, params, base_name))
                    break
                jobs.append(NotebookJob(chapter, notebook, {**params, "seeds": [seed]},
                                        base_name.replace(".ipynb", f"_seed{seed}.ipynb")))
            else:
                finals.append(NotebookJob(chapter, notebook, params, base_name))
    return jobs, finals


def run_name(chapter: str, profile: str, cfg: dict) -> str:
    """The executed notebook's file name: chapter, profile, dataset, subset, and every other setting of ``cfg``
    (so that two configurations of one chapter and dataset never write the same file)."""
    extra = [f"{k}-{'-'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in cfg.items()
             if k not in ("dataset", "subset", "seeds")]
    return "_".join([chapter, profile, cfg["dataset"], cfg.get("subset") or "all", *extra]) + ".ipynb"


def _configs() -> dict:
    from vsalib.chapters import run_groups

    return run_groups()


# -- running ---------------------------------------------------------------------------------------
def _marker(state: Path, job) -> Path:
    return state / f"{job.name}.done.json"


def execute(job, out_dir: str, state_dir: str, force: bool = False) -> dict[str, Any]:
    """Run one job where the Dask worker is (its own log under ``state_dir``); the marker of a job finished at
    the same commit of a clean tree makes a second call return at once unless ``force`` (otherwise the job runs
    and its fold runner reads back what the store holds). Returns ``{"job", "status": "done" | "skipped" | "failed", "log", ...}``: a
    failure is returned (with its error), not raised, so that the grid goes on."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    marker, log = _marker(state, job), state / f"{job.name}.log"
    from vsalib import provenance

    code = provenance.code_version()
    want = {"job": job.describe(), "kind": type(job).__name__, **asdict(job), "code": code}
    if marker.exists() and not force and not code.get("dirty"):  # done at this commit: nothing new to compute
        try:
            if {k: v for k, v in json.loads(marker.read_text(encoding="utf-8")).items() if k in want} == want:
                return {"job": job.describe(), "status": "skipped", "log": str(log)}
        except ValueError:
            pass
    t0 = time.perf_counter()
    try:
        out = job.run(Path(out_dir), log)
    except Exception as exc:  # noqa: BLE001 - any failure of one job is reported, the grid goes on
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("\n" + traceback.format_exc())
        return {"job": job.describe(), "status": "failed", "log": str(log), "error": f"{type(exc).__name__}: {exc}"}
    done = {**out, **want, "seconds": round(time.perf_counter() - t0, 1), "status": "done", "log": str(log)}
    tmp = marker.with_name(f".{marker.name}.tmp")
    tmp.write_text(json.dumps(done, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, marker)
    return {k: done[k] for k in ("job", "status", "log", "seconds")}


def local_cluster_size(cores: int | None = None, gpus: int = 0) -> dict[str, int]:
    """Workers and threads of the default :class:`LocalCluster`: one worker per GPU where there are GPUs,
    else one per two cores (each job's torch uses the worker's share of cores), one job at a time per worker."""
    cores = cores or os.cpu_count() or 1
    workers = gpus if gpus else max(1, cores // 2)
    return {"n_workers": workers, "threads_per_worker": 1}


def client_for(scheduler: str | None = None, *, n_workers: int | None = None):
    """A Dask client: of the scheduler at ``scheduler`` (``tcp://host:8786``), else of a new LocalCluster
    (:func:`local_cluster_size`, or ``n_workers``) of worker processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        gpus = 0
    size = local_cluster_size(gpus=gpus)
    if n_workers:
        size["n_workers"] = n_workers
    cores = os.cpu_count() or 1
    env = {"OMP_NUM_THREADS": str(max(1, cores // size["n_workers"])), "OMP_WAIT_POLICY": "PASSIVE"}
    cluster = LocalCluster(processes=True, dashboard_address=None, env=env, **size)  # each worker its own process
    return Client(cluster)


def run_grid(jobs: Sequence, finals: Sequence = (), *, client=None, scheduler: str | None = None,
             n_workers: int | None = None, out_dir: str | os.PathLike | None = None,
             state_dir: str | os.PathLike | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Run ``jobs`` on a Dask cluster (``client``, else :func:`client_for` ``scheduler`` / ``n_workers``, closed
    afterwards), then ``finals``
    (each after every job, e.g. the chapters' notebooks that read the store). Each job runs once at a time on a
    worker (a job lost with a killed worker is given to another, which resumes from the store); failures are
    reported and the rest go on. Returns one result per job (:func:`execute`), in submission order."""
    from distributed import as_completed

    from vsalib.progress import tqdm
    from vsalib.results import default_results_dir

    out_dir = str(Path(out_dir) if out_dir else default_results_dir() / "notebooks")
    state_dir = str(Path(state_dir) if state_dir else default_results_dir() / "grid")
    own = client is None
    client = client_for(scheduler, n_workers=n_workers) if own else client
    results: list[dict[str, Any]] = []
    try:
        for stage, force in ((list(jobs), False), (list(finals), True)):  # the chapter runs read the store anew
            if not stage:
                continue
            run_id = uuid.uuid4().hex[:8]  # a new key each grid: never a result the cluster still holds
            futures = [client.submit(execute, job, out_dir, state_dir, force, key=f"vsalib-{run_id}-{i}-{job.name}",
                                     pure=False) for i, job in enumerate(stage)]
            order = {f.key: i for i, f in enumerate(futures)}
            got: dict[int, dict] = {}
            counts = {"done": 0, "failed": 0}
            bar = tqdm(total=len(futures), desc="jobs", disable=not progress)
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a job whose workers kept dying
                    job = stage[order[fut.key]]
                    res = {"job": job.describe(), "status": "failed", "log": str(Path(state_dir) / f"{job.name}.log"),
                           "error": f"{type(exc).__name__}: {exc}"}
                got[order[fut.key]] = res
                counts["failed" if res["status"] == "failed" else "done"] += 1
                if res["status"] == "failed":
                    bar.write(f"failed: {res['job']} ({res.get('error')}); log: {res['log']}")
                running = sum(len(v) for v in client.processing().values())
                bar.set_postfix(done=counts["done"], running=running, failed=counts["failed"])
                bar.update(1)
            bar.close()
            results += [got[i] for i in range(len(stage))]
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    return results


__all__ = ["FoldJob", "NotebookJob", "client_for", "execute", "local_cluster_size", "notebook_jobs", "run_grid",
           "run_name"]
