"""Sweeps: a grid of predictors x sizes x corpus files, run as independent jobs.

Each job measures one predictor (or baseline) on one corpus file and returns its record, loss
curve included; only the calling process appends to the results store (which saves the curve),
whole lines as jobs finish, so an interrupted sweep loses at most the jobs still running (a
chunked file's finished parts are kept too, in a store of their own: `results.parts_path`). Jobs
run in a local process pool, or on a Ray cluster (`ray.init(address)`) once one machine is not
enough: a job carries only names, so any worker with the harness installed (and the data dir or
download cache) can run it.

A job whose result is already stored is not run again unless forced: same spec, corpus name and
content sha256, --max-bytes, harness version, and the same definition (a predictor's version and
every option value, defaults included; a baseline's library version), so a changed default or
a new predictor version never reuses an old result.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import harness
from harness import corpus, measure, provenance, trust
from harness.errors import HarnessError
from harness.predictor import definition
from harness.record import Record
from harness.registry import Registry, load_registry

EXECUTORS = ("inline", "local", "ray")


@dataclass(frozen=True)
class Job:
    """One measurement, described by names only so that it can travel to another machine."""

    spec: str
    corpus: str
    baseline: bool = False
    max_bytes: int | None = None
    data_dir: str | None = None
    plugin_files: tuple[str, ...] = ()
    allow_pickle: bool = False
    """The user's --allow-pickle: pickled weights may be loaded (it travels with the job)."""
    part: corpus.Part | None = None
    """Bytes [first, end) of the file: one part of a chunked predictor's job (`parts`)."""


@dataclass(frozen=True)
class JobFailure:
    """A job that could not run (bad input), reported by name while the others go on."""

    spec: str
    corpus: str
    error: str


def _recorded_definition(record: Record) -> str | None:
    if record.kind == "baseline":
        return record.baseline_version
    if record.settings is None:  # written before settings were recorded: never reused
        return None
    return definition(record.predictor, record.predictor_version, record.settings, record.member_versions)


def cache(records: list[Record]) -> dict[tuple, dict[str, Record]]:
    """Verified records by (spec, definition, corpus, --max-bytes, harness version), then by the
    content's sha256; later ones win.

    --max-bytes is part of the key because it decides the table a result is shown in.
    """
    index: dict[tuple, dict[str, Record]] = {}
    for r in records:
        if r.verified and r.corpus_sha256:
            key = (r.spec, _recorded_definition(r), r.corpus, r.max_bytes, r.harness_version)
            index.setdefault(key, {})[r.corpus_sha256] = r
    return index


def meaning(registry: Registry, spec: str, baseline: bool = False) -> str:
    """The definition a stored result must have been made under to stand for `spec` now."""
    if baseline:
        return registry.baselines[spec].item.version
    cls, settings, _ = registry.predictor(spec)
    return definition(cls.name, cls.version, settings, cls.member_versions(settings))


def chunked(registry: Registry, spec: str, chunk_bytes: int | None) -> str:
    """`spec` with `chunk=chunk_bytes`: its predictor codes each chunk as an independent stream
    (LMIC's protocol). Only predictors with a `chunk` option can; the others are refused."""
    if not chunk_bytes:
        return spec
    cls, _, _ = registry.predictor(spec)
    if "chunk" not in cls.options:
        able = sorted(name for name, entry in registry.predictors.items() if "chunk" in entry.item.options)
        raise HarnessError(
            f"--chunk-bytes: {cls.name} codes whole inputs; predictors with a chunk option: {', '.join(able) or 'none'}"
        )
    return registry.predictor(with_size(spec, f"chunk={chunk_bytes}"))[2]


def parts(registry: Registry, job: Job, chunks_per_job: int) -> list[Job]:
    """`job` as jobs of `chunks_per_job` of its predictor's chunks each, so that an executor can
    fan one large file out; a job that is not chunked, or a file of one part, stays whole."""
    if job.baseline:
        return [job]
    cls, settings, _ = registry.predictor(job.spec)
    step = settings.get("chunk", 0) * chunks_per_job if "chunk" in cls.options else 0
    with corpus.open_prefix(corpus_file(registry, job), job.max_bytes) as whole:
        length = whole.length
    if not step or length <= step:
        return [job]
    return [dataclasses.replace(job, part=(first, min(first + step, length))) for first in range(0, length, step)]


class Assembly:
    """Jobs as the parts an executor runs (`parts`), and each job's record put back together
    (`measure.combine`) once all its parts are in."""

    def __init__(self, registry: Registry, jobs: list[Job], chunks_per_job: int) -> None:
        self.registry = registry
        self.parts = {job: parts(registry, job, chunks_per_job) for job in jobs}
        self.whole = {part: job for job, pieces in self.parts.items() for part in pieces}
        self.records: dict[Job, dict[Job, Record]] = {job: {} for job in jobs}

    def add(self, part: Job, record: Record) -> Record | None:
        """Take a part's record; its job's whole record once this was the last part missing."""
        job = self.whole[part]
        self.records[job][part] = record
        if len(self.records[job]) < len(self.parts[job]):
            return None
        pieces = [self.records[job][piece] for piece in self.parts[job]]
        return measure.combine(pieces, corpus_file(self.registry, job), job.max_bytes)


def with_size(spec: str, size: str | None) -> str:
    """'ngram' + 'order=3' -> 'ngram:order=3'; options already in the spec are kept."""
    if not size:
        return spec
    return f"{spec},{size}" if ":" in spec else f"{spec}:{size}"


def sizes(option: str | None) -> list[str | None]:
    """'order=1,2,4' -> ['order=1', 'order=2', 'order=4']; None -> [None] (no size axis)."""
    if not option:
        return [None]
    key, sep, values = option.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise HarnessError(f"bad --sizes {option!r}: expected KEY=V1,V2,... (e.g. order=1,2,4)")
    return [f"{key.strip()}={v.strip()}" for v in values.split(",") if v.strip()]


def grid(
    registry: Registry,
    predictors: list[str],
    size_option: str | None,
    corpus_specs: list[str],
    *,
    baselines: bool,
    max_bytes: int | None,
    data_dir: str | None,
    plugin_files: list[str],
    allow_pickle: bool = False,
    chunk_bytes: int | None = None,
) -> list[Job]:
    """Every (predictor at each size, corpus file) job, plus each baseline on each file; with
    `chunk_bytes`, each predictor codes its input as independent chunks of that many bytes."""
    specs = [chunked(registry, with_size(p, s), chunk_bytes) for p in predictors for s in sizes(size_option)]
    files = [f.name for f in registry.corpus_files(corpus_specs, data_dir)]
    names = [(spec, False) for spec in dict.fromkeys(specs)]
    names += [(name, True) for name in registry.baselines] if baselines else []
    return [
        Job(spec, corpus, baseline, max_bytes, data_dir, tuple(plugin_files), allow_pickle)
        for corpus in dict.fromkeys(files)
        for spec, baseline in names
    ]


def corpus_file(registry: Registry, job: Job) -> corpus.CorpusFile:
    (file,) = registry.corpus_files([job.corpus], job.data_dir)
    return file


def measure_job(registry: Registry, job: Job, **streaming: Any) -> Record:
    """Measure one job from scratch, its loss curve kept for the store. `streaming` (progress,
    phase) goes to `measure.measure_predictor`; a baseline reports neither progress nor a curve."""
    file = corpus_file(registry, job)
    if job.baseline:
        return measure.measure_baseline(registry.baselines[job.spec].item, file, job.max_bytes)
    with trust.policy(trust.Trust(pickles=job.allow_pickle)):  # the user typed the spec
        return measure.measure_predictor(
            registry, job.spec, file, keep_curve=True, max_bytes=job.max_bytes, part=job.part, **streaming
        )


def attempt(registry: Registry, job: Job, **streaming: Any) -> Record | JobFailure:
    """`measure_job`, with bad input coming back as a `JobFailure` rather than as an exception."""
    try:
        return measure_job(registry, job, **streaming)
    except HarnessError as error:
        return JobFailure(job.spec, job.corpus, str(error))


def run_job(job: Job) -> Record | JobFailure:
    """Measure one job in whatever process or machine runs it (a pool worker, a Ray task)."""
    return attempt(load_registry(plugin_files=list(job.plugin_files)), job)


def stored_results(registry: Registry, jobs: list[Job], records: list[Record]) -> list[Record | None]:
    """Each job's result in `records` (None: not there, the job must run). A part of a chunked
    job (`parts`) is found by its own bytes' sha256, as its record names them. A file is read to
    hash it only where a stored result could stand for its job: a first run reads it only to
    measure it."""
    index, digests = cache(records), {}
    found = []
    for job in jobs:
        meant = meaning(registry, job.spec, job.baseline)
        candidates = index.get((job.spec, meant, job.corpus, job.max_bytes, harness.__version__), {})
        key = (job.corpus, job.max_bytes, job.part)
        if candidates and key not in digests:  # files are streamed, never held whole
            digests[key] = corpus.prefix_sha256(corpus_file(registry, job), job.max_bytes, job.part)
        found.append(candidates.get(digests.get(key, "")))
    return found


Outcome = tuple[Job, Record | JobFailure]
"""A job that ran, with what came of it."""


def run_local(jobs: list[Job], workers: int | None = None) -> Iterator[Outcome]:
    """Run jobs in a pool of fresh processes (spawned: torch and numba do not survive fork well)."""
    workers = workers or os.cpu_count() or 1
    # Each worker names the checkout it imported as it starts, not HEAD when its record comes:
    # a commit made during a run of hours had its rows name code they never ran.
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)) or 1, mp_context=get_context("spawn"), initializer=provenance.git_commit
    )
    futures = {pool.submit(run_job, job): job for job in jobs}
    running = set(futures)
    try:
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield futures[future], future.result()
    except BaseException:  # Ctrl-C, kill, or the caller stopped: the jobs in flight are dropped now
        for process in list(pool._processes.values()):  # waiting for them could take hours
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_ray(jobs: list[Job], address: str | None = None) -> Iterator[Outcome]:
    """Run jobs as Ray tasks on the cluster at `address` (None: start a local Ray instance)."""
    try:
        import ray
    except ImportError:
        raise HarnessError("--executor ray needs Ray: pip install 'compression-harness[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise HarnessError(f"cannot connect to Ray at {address or 'a new local instance'}: {error}") from None
    remote = ray.remote(num_cpus=1)(run_job)
    owners = {remote.remote(job): job for job in jobs}
    refs = list(owners)
    try:
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            try:
                yield owners[done[0]], ray.get(done[0])
            except ray.exceptions.RayError as error:  # a worker died or a job raised a bug
                raise HarnessError(f"a Ray job failed: {str(error).splitlines()[0]}") from error
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


Watch = Callable[[Job], AbstractContextManager[dict[str, Any]]]
"""Given a job about to run in this process, a context whose value is the `progress` and
`phase` callbacks to measure it with (a progress bar for the time it runs)."""


def run_inline(jobs: list[Job], registry: Registry, watch: Watch) -> Iterator[Outcome]:
    """Run jobs one after another in this process (what `harness run` does), with progress."""
    for job in jobs:
        with watch(job) as streaming:
            outcome = attempt(registry, job, **streaming)
        yield job, outcome


def execute(
    jobs: list[Job],
    executor: str,
    workers: int | None = None,
    address: str | None = None,
    *,
    registry: Registry | None = None,
    watch: Watch | None = None,
) -> Iterator[Outcome]:
    """Each job with its record (or failure) as it finishes, in any order: "inline" in this
    process (with `registry` and `watch`), "local" on a process pool, "ray" on a Ray cluster."""
    if not jobs:  # nothing to do: do not start a pool or a Ray instance for it
        return iter(())
    runners: dict[str, Callable[[], Iterator[Outcome]]] = {
        "inline": lambda: run_inline(jobs, registry or load_registry(), watch or _unwatched),
        "local": lambda: run_local(jobs, workers),
        "ray": lambda: run_ray(jobs, address),
    }
    return runners[executor]()


@contextmanager
def _unwatched(job: Job) -> Iterator[dict[str, Any]]:
    yield {}
