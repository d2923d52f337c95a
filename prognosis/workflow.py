"""One function per command: what ``prognosis <command>`` does, without the printing.

Each function takes paths and options, checks where it may write before any work
(:func:`prognosis.output_folders.claim_output`), calls the library (:mod:`prognosis.cohort`,
:mod:`prognosis.training`, :mod:`prognosis.scoring`, :mod:`prognosis.report`, ...) and returns
a typed result that :mod:`prognosis.cli` prints. Errors are :class:`PrognosisError`; data-quality
findings are :class:`~prognosis.exceptions.DataQualityWarning` warnings, left to the caller.

The modelling libraries (scikit-learn, SciPy, lifelines, xgboost) are imported inside the
functions that need them, so that ``prognosis cohort build`` and ``prognosis --help`` start
without them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prognosis.cohort import build_cohort, compile_script, load_definition, parse_source
from prognosis.cohort.build import BuildResult
from prognosis.cohort.sources import source_paths
from prognosis.exceptions import PrognosisError
from prognosis.output_folders import OutputKind, claim_output
from prognosis.outputs import write_parquet_output

if TYPE_CHECKING:
    import pandas as pd

    from prognosis.artifacts import MetricsFile
    from prognosis.dataset import CohortDataset
    from prognosis.evaluation.verdict import Verdict
    from prognosis.models.store import SavedModel
    from prognosis.report import PatientReports
    from prognosis.report.model_report import WrittenModelReport
    from prognosis.synth import SynthTruth

__all__ = [
    "FitOptions",
    "Fitted",
    "Scored",
    "Synthesized",
    "build_dataset",
    "cohort_sql",
    "compare",
    "compare_outcomes",
    "evaluate",
    "explain",
    "fit",
    "fit_outcomes",
    "predict_dataset",
    "predict_person",
    "report_model",
    "report_patients",
    "synthesize",
    "verdict",
]

#: Called with a short message as each step starts (the CLI prints them with their durations).
Progress = Callable[[str], None]
#: Called as ``(done, total)`` along a long step (bootstrap resamples, pages written): the
#: CLI's progress bar.
Count = Callable[[int, int], None]

#: The first step of the modelling commands: importing scikit-learn, lifelines, xgboost, ...
#: takes seconds, and a command should not be silent while it does.
LOADING = "load the modelling libraries"

#: Where ``cohort build`` writes without ``--out``, and ``report patients`` keeps pseudonyms.
DATASETS = Path("data/cohorts")
PSEUDONYMS = Path("data/pseudonyms")


# -- cohorts -----------------------------------------------------------------------------------
def cohort_sql(definition: Path, dialect: str) -> str:
    """The SQL script that builds the cohort of the YAML file ``definition``, in ``dialect``
    (one of :data:`prognosis.cohort.sql.DIALECTS`)."""
    return compile_script(load_definition(definition), dialect)


def build_dataset(
    definition: Path,
    source: str,
    *,
    out: Path | None = None,
    features_of: Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the cohort of the YAML file ``definition`` on ``source`` into a dataset folder.

    Parameters
    ----------
    definition
        A cohort definition file (``cohorts/NAME.yaml``).
    source
        A source string (:func:`prognosis.cohort.parse_source`): ``eunomia``,
        ``duckdb:///PATH``, a folder of CSV/Parquet files, a PostgreSQL or Spark URL.
    out
        The dataset folder; default ``data/cohorts/NAME``. It may not overlap the source's files
        or ``features_of``.
    features_of
        A fitted model's folder: build exactly its feature columns.
    overwrite
        Replace a previous dataset at ``out``.
    progress
        Called as each build step starts.

    Returns
    -------
    BuildResult
        The folder written, its counts, attrition and data-quality findings.
    """
    parsed, where = load_definition(definition), parse_source(source)
    out = out or DATASETS / parsed.name
    protect = source_paths(where) + ([features_of] if features_of else [])
    with claim_output(out, OutputKind.DATASET, overwrite=overwrite, protect=protect):
        return build_cohort(
            parsed,
            where,
            out,
            progress=progress,
            definition_path=str(definition),
            features_of=features_of,
        )


@dataclass(frozen=True)
class Synthesized:
    """A synthetic CDM written by :func:`synthesize`."""

    out: Path
    truth_path: Path
    truth: SynthTruth


def synthesize(
    out: Path,
    *,
    persons: int,
    seed: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Synthesized:
    """Write a synthetic OMOP CDM with planted hazards to the DuckDB file ``out``.

    The planted model goes beside it (:func:`prognosis.synth.truth_path`); see
    :func:`prognosis.synth.generate_cdm` for what may be replaced.
    """
    from prognosis.synth import generate_cdm, truth_path

    truth = generate_cdm(out, persons=persons, seed=seed, progress=progress, overwrite=overwrite)
    return Synthesized(out=Path(out), truth_path=truth_path(out), truth=truth)


# -- models ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitOptions:
    """What ``prognosis fit`` fits, and how it is validated.

    Attributes
    ----------
    model
        A name of :data:`prognosis.models.registry.MODEL_NAMES`.
    horizons
        Prediction horizons in days.
    split
        The validation design: ``cv``, ``cv:K``, ``temporal:YYYY-MM-DD`` or ``none``.
    seed
        Seed of the folds, the bootstrap and the estimator.
    n_boot
        Bootstrap resamples of the validation metrics (0: no intervals).
    censoring_model
        ``km`` or ``cox:COL,COL``: the censoring weights of the validation.
    censor_competing
        Treat competing events as censoring (a cause-specific model of the outcome).
    subgroups
        Categorical feature columns whose groups are validated too, besides sex, age bands
        and index concept (:mod:`prognosis.evaluation.subgroups`).
    outcome
        Of a dataset built from ``outcomes:``, the one outcome to model; ``None``: each of
        them (:func:`fit_outcomes`).
    params
        The estimator's parameters as ``NAME=VALUE`` texts (``--param``;
        :func:`prognosis.models.registry.parse_params`).
    """

    model: str
    horizons: tuple[float, ...]
    split: str = "cv"
    seed: int = 0
    n_boot: int = 200
    censoring_model: str = "km"
    censor_competing: bool = False
    subgroups: tuple[str, ...] = ()
    outcome: str | None = None
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fitted:
    """A model fitted and saved by :func:`fit`."""

    out: Path
    saved: SavedModel

    @property
    def outcome(self) -> str | None:
        """The outcome modelled, of a dataset built from ``outcomes:``."""
        return self.saved.info.outcome

    @property
    def validated(self) -> bool:
        """Whether the model carries validation metrics (not with ``--split none``)."""
        return self.saved.metrics.results is not None

    @property
    def verdict(self) -> Verdict:
        """The verdict on the model from its validation metrics (:func:`verdict`)."""
        return verdict(self.saved)


def verdict(model: Path | SavedModel, metrics: MetricsFile | None = None) -> Verdict:
    """The verdict on a saved model (a model directory or a loaded one): what it predicts, its
    discrimination and calibration, and its warnings, from its own metrics or from
    ``metrics`` (``prognosis evaluate``'s); see :func:`prognosis.evaluation.verdict.judge`."""
    from prognosis.evaluation.verdict import verdict_of
    from prognosis.models.store import SavedModel, load_model
    from prognosis.report.describe import outcome_words, parse_recorded_definition

    saved = model if isinstance(model, SavedModel) else load_model(model)
    outcome = outcome_words(parse_recorded_definition(saved.training_manifest, saved.info.outcome))
    return verdict_of(metrics or saved.metrics, saved.info, outcome=outcome)


def fit(
    dataset_dir: Path,
    options: FitOptions,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    count: Count | None = None,
) -> Fitted:
    """Fit ``options.model`` on the dataset folder ``dataset_dir`` (on ``options.outcome``,
    of a dataset built from ``outcomes:``), validate it as ``options.split`` says, and save it
    with its metrics into the model directory ``out``.

    ``progress`` is called as each step starts, ``count`` after each bootstrap resample of the
    validation metrics. See :func:`prognosis.training.fit_model` for what is fitted and
    measured.

    Raises
    ------
    DatasetError
        When the dataset has several outcomes and ``options.outcome`` is none of them.
    """
    say, params = _started(options, progress)
    from prognosis.dataset import load_dataset
    from prognosis.models.store import save_model

    with claim_output(out, OutputKind.MODEL, overwrite=overwrite, protect=[dataset_dir]):
        say("read the dataset")
        dataset = load_dataset(dataset_dir, options.outcome)
        saved = _fitted(dataset, options, params, say, count)
        say("save the model")
        save_model(out, saved)
    return Fitted(out=Path(out), saved=saved)


def fit_outcomes(
    dataset_dir: Path,
    options: FitOptions,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    count: Count | None = None,
) -> list[Fitted]:
    """:func:`fit` for every outcome of a dataset built from ``outcomes:``: ``out`` becomes a
    folder of models, one model directory per outcome (``out/<outcome>``), written together
    (all or none). A one-outcome dataset, or ``options.outcome`` set, gives :func:`fit`'s one
    model in ``out``."""
    from prognosis.dataset import load_dataset, outcomes_of
    from prognosis.models.store import save_model
    from prognosis.output_folders import write_marker
    from prognosis.outputs import atomic_directory

    outcomes = outcomes_of(dataset_dir)
    if options.outcome is not None or not outcomes:
        return [fit(dataset_dir, options, out, overwrite=overwrite, progress=progress, count=count)]
    say, params = _started(options, progress)
    with claim_output(out, OutputKind.MODEL_SET, overwrite=overwrite, protect=[dataset_dir]):
        say("read the dataset")
        dataset = load_dataset(dataset_dir)
        with atomic_directory(Path(out)) as folder:
            write_marker(folder, OutputKind.MODEL_SET)
            fitted = []
            for name in outcomes:
                say(f"outcome {name}")
                saved = _fitted(dataset.for_outcome(name), options, params, say, count)
                save_model(folder / name, saved)
                fitted.append(Fitted(out=Path(out) / name, saved=saved))
    return fitted


def _started(options: FitOptions, progress: Progress | None) -> tuple[Progress, dict[str, Any]]:
    """Say that the modelling libraries load, and check the estimator's parameters before any
    work; the progress function (a no-op without ``progress``) and the parameters."""
    say = progress or (lambda _message: None)
    say(LOADING)
    from prognosis.models.registry import parse_params

    return say, parse_params(options.model, options.params)


def _fitted(
    dataset: CohortDataset,
    options: FitOptions,
    params: dict[str, Any],
    say: Progress,
    count: Count | None,
) -> SavedModel:
    from prognosis import training
    from prognosis.evaluation.censoring import parse_censoring_model
    from prognosis.evaluation.validation import parse_split

    return training.fit_model(
        dataset,
        options.model,
        options.horizons,
        parse_split(options.split),
        seed=options.seed,
        params=params,
        n_boot=options.n_boot,
        progress=say,
        censor_competing=options.censor_competing,
        censoring_covariates=parse_censoring_model(options.censoring_model),
        subgroup_columns=options.subgroups,
        bootstrap_progress=count,
    )


def evaluate(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    *,
    overwrite: bool = False,
    seed: int = 0,
    n_boot: int = 200,
    censoring_model: str = "km",
    subgroups: Sequence[str] = (),
    progress: Progress | None = None,
    count: Count | None = None,
) -> MetricsFile:
    """Measure the saved model in ``model_dir`` on ``dataset_dir`` (held-out or external data)
    and write the metrics to the JSON file ``out``; return them.

    ``subgroups``: categorical columns measured by group, besides sex, age bands and index
    concept. See :func:`prognosis.training.evaluate_model`.
    ``progress`` is called as each step starts, ``count`` after each bootstrap resample. See
    :func:`prognosis.training.evaluate_model`.
    """
    say = progress or (lambda _message: None)
    say(LOADING)
    from prognosis import training
    from prognosis.artifacts import write_metrics
    from prognosis.dataset import load_dataset
    from prognosis.evaluation.censoring import parse_censoring_model
    from prognosis.models.store import load_model

    protect = [model_dir, dataset_dir]
    with claim_output(out, OutputKind.METRICS, overwrite=overwrite, protect=protect):
        say("read the model and the dataset")
        saved = load_model(model_dir)
        dataset = load_dataset(dataset_dir, saved.info.outcome)
        say(f"evaluate ({n_boot} bootstrap resamples)")
        metrics = training.evaluate_model(
            saved,
            dataset,
            n_boot=n_boot,
            seed=seed,
            censoring_covariates=parse_censoring_model(censoring_model),
            subgroup_columns=tuple(subgroups),
            bootstrap_progress=count,
        )
        write_metrics(out, metrics)
    return metrics


@dataclass(frozen=True)
class Scored:
    """A Parquet output of :func:`predict_dataset` or :func:`explain`: its rows, and whether
    Spark computed it."""

    out: Path
    rows: int
    on_spark: bool = False


def _protected(model_dir: Path, dataset: str) -> list[Path]:
    from prognosis.spark_scoring import is_spark_url

    return [model_dir] if is_spark_url(dataset) else [model_dir, Path(dataset)]


def predict_dataset(
    model_dir: Path, dataset: str | Path, out: Path, *, overwrite: bool = False
) -> Scored:
    """Risk at each of the model's horizons for every row of ``dataset``, written to the
    Parquet file ``out`` (``person_id``, ``index_date``, ``risk_<horizon>``).

    ``dataset`` is a dataset folder, or ``spark://MASTER?path=DATASET_DIR`` to score on Spark
    (:func:`prognosis.spark_scoring.score_on_spark`).
    """
    from prognosis import training
    from prognosis.dataset import load_dataset
    from prognosis.models.store import load_model
    from prognosis.spark_scoring import is_spark_url, score_on_spark

    dataset = str(dataset)
    protect = _protected(model_dir, dataset)
    with claim_output(out, OutputKind.PREDICTIONS, overwrite=overwrite, protect=protect):
        if is_spark_url(dataset):
            rows = score_on_spark("predict", model_dir, dataset, out)
            return Scored(out=Path(out), rows=rows, on_spark=True)
        saved = load_model(model_dir)
        loaded = load_dataset(dataset, saved.info.outcome)
        frame = training.predict_frame(saved, loaded.frame, origin=dataset)
        write_parquet_output(frame, out, OutputKind.PREDICTIONS)
    return Scored(out=Path(out), rows=len(frame))


def predict_person(
    model_dir: Path,
    source: str | None,
    person_id: int | None,
    index_date: dt.date | None = None,
    *,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Risk at each horizon for one person, straight from the CDM ``source``: one row,
    ``person_id``, ``index_date``, ``risk_<horizon>``.

    Without ``index_date`` the person is scored at their index event in the model's cohort
    (a landmark model: at each landmark they are at risk at); with ``as_of``, a landmark
    model scores them on that day of their course. See
    :func:`prognosis.scoring.score_person` (which warns about features outside the training
    range).

    Raises
    ------
    PrognosisError
        When ``source`` or ``person_id`` is missing (after the model directory is verified).
    """
    from prognosis import scoring
    from prognosis.models.store import load_model

    saved = load_model(model_dir)
    if source is None or person_id is None:
        raise PrognosisError(
            "give DATASET_DIR and --out, or --source and --person-id to score one person"
        )
    return scoring.score_person(saved, parse_source(source), person_id, index_date, as_of=as_of)


def explain(
    model_dir: Path,
    dataset: str | Path,
    out: Path,
    *,
    overwrite: bool = False,
    background_rows: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
    count: Count | None = None,
) -> Scored:
    """SHAP values of every row of ``dataset`` (a dataset folder or ``spark://...?path=DIR``),
    written to the Parquet file ``out``: ``person_id``, ``index_date``, ``base_value`` and
    ``shap_<feature>``, in the model's output unit, against ``background_rows`` reference rows
    of the dataset chosen by ``seed`` (:func:`prognosis.scoring.background_rows`);
    ``progress`` is called as each step starts, ``count(done, total)`` as rows are explained."""
    say = progress or (lambda _message: None)
    say(LOADING)
    from prognosis import scoring
    from prognosis.dataset import load_dataset
    from prognosis.models.store import load_model
    from prognosis.spark_scoring import is_spark_url, score_on_spark

    dataset = str(dataset)
    protect = _protected(model_dir, dataset)
    with claim_output(out, OutputKind.SHAP_VALUES, overwrite=overwrite, protect=protect):
        if is_spark_url(dataset):
            rows = score_on_spark(
                "explain", model_dir, dataset, out, background_rows=background_rows, seed=seed
            )
            return Scored(out=Path(out), rows=rows, on_spark=True)
        say("read the model and the dataset")
        saved = load_model(model_dir)
        loaded = load_dataset(dataset, saved.info.outcome)
        background = scoring.background_rows(loaded.frame, background_rows, seed)
        say(f"SHAP values of {len(loaded.frame)} rows")
        frame = scoring.explain_frame(
            saved, loaded.frame, background=background, origin=dataset, progress=count
        )
        write_parquet_output(frame, out, OutputKind.SHAP_VALUES)
    return Scored(out=Path(out), rows=len(frame))


def compare(
    dataset_dir: Path,
    models: Sequence[str],
    horizons: Sequence[float],
    *,
    split: str = "cv",
    seed: int = 0,
    n_boot: int = 0,
    outcome: str | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Fit each of ``models`` on the same folds of ``dataset_dir`` (of ``outcome``, for a
    dataset built from ``outcomes:``): one row per model, in the order given, with its metrics
    at the first horizon (see :func:`prognosis.training.compare_models`); ``progress`` is
    called as each step starts.

    Raises
    ------
    PrognosisError
        When a name is not in the registry (before the dataset is read).
    """
    return compare_outcomes(
        dataset_dir,
        models,
        horizons,
        split=split,
        seed=seed,
        n_boot=n_boot,
        outcomes=[outcome],
        progress=progress,
    )[outcome]


def compare_outcomes(
    dataset_dir: Path,
    models: Sequence[str],
    horizons: Sequence[float],
    *,
    split: str = "cv",
    seed: int = 0,
    n_boot: int = 0,
    outcomes: Sequence[str | None] | None = None,
    progress: Progress | None = None,
) -> dict[str | None, list[dict[str, Any]]]:
    """:func:`compare` for each of ``outcomes`` (default: every outcome of a dataset built from
    ``outcomes:``, or the one outcome, ``None``, of any other): the rows by outcome."""
    if progress is not None:
        progress(LOADING)
    from prognosis import training
    from prognosis.dataset import load_dataset
    from prognosis.evaluation.validation import parse_split
    from prognosis.models.registry import MODEL_NAMES

    unknown = [name for name in models if name not in MODEL_NAMES]
    if unknown:
        raise PrognosisError(f"unknown model(s) {unknown}; choose from {', '.join(MODEL_NAMES)}")
    dataset = load_dataset(dataset_dir)
    if outcomes is None:
        outcomes = dataset.outcome_names or [None]
    views = {name: dataset.for_outcome(name) for name in outcomes}  # all checked first
    compared = {}
    for name, view in views.items():
        if progress is not None and name is not None:
            progress(f"outcome {name}")
        compared[name] = training.compare_models(
            view,
            list(models),
            horizons,
            parse_split(split),
            seed=seed,
            n_boot=n_boot,
            progress=progress,
        )
    return compared


# -- reports -----------------------------------------------------------------------------------
def report_model(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    *,
    metrics_path: Path | None = None,
    n_boot: int = 200,
    seed: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
    count: Count | None = None,
) -> WrittenModelReport:
    """Write the model report ``out/index.html``; return the page and its verdict.

    ``metrics_path``: a ``metrics.json`` of ``prognosis evaluate``, shown instead of the
    model's stored metrics. ``progress`` is called as each step starts, ``count`` after each
    bootstrap resample when the model is evaluated on the dataset. See
    :func:`prognosis.report.write_model_report`.
    """
    if progress is not None:
        progress(LOADING)
    from prognosis.report import write_model_report

    return write_model_report(
        model_dir,
        dataset_dir,
        out,
        metrics_path=metrics_path,
        n_boot=n_boot,
        seed=seed,
        overwrite=overwrite,
        progress=progress,
        count=count,
    )


def report_patients(
    model_dir: Path,
    dataset_dir: Path,
    out: Path,
    *,
    ids: Sequence[int] = (),
    sample: int | None = None,
    seed: int = 0,
    mapping_dir: Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    count: Count | None = None,
    source: str | None = None,
    as_of: dt.date | None = None,
) -> PatientReports:
    """Write one page per patient and ``out/index.html``, patients named by pseudonyms.

    ``model_dir`` is a model directory, or a folder of models, one per outcome
    (:func:`fit_outcomes`): then the patients are the rows of the whole dataset, and each page
    has a panel of the outcomes (:mod:`prognosis.report.panel`).

    Parameters
    ----------
    ids
        The person_ids to report on; empty: ``sample`` persons drawn with ``seed``, or all.
    mapping_dir
        The private folder of the pseudonym key and mapping, never inside ``out``; default
        ``data/pseudonyms/<name of dataset_dir>``.
    progress, count
        Called as each step starts, and as ``(done, total)`` after each page is written.
    source, as_of
        A landmark model: the CDM to score each patient from on ``as_of`` (default: today),
        the last step of their course (:mod:`prognosis.report.today`).

    See :func:`prognosis.report.write_patient_reports`.
    """
    if progress is not None:
        progress(LOADING)
    from prognosis.report import write_patient_reports
    from prognosis.report.today import TodaySource

    today = None
    if source is not None:
        today = TodaySource(parse_source(source), as_of or dt.date.today())
    elif as_of is not None:
        raise PrognosisError("--as-of needs --source: the CDM to score the patients from")

    return write_patient_reports(
        model_dir,
        dataset_dir,
        out,
        ids=list(ids) or None,
        sample=sample,
        seed=seed,
        mapping_dir=mapping_dir or PSEUDONYMS / Path(dataset_dir).name,
        overwrite=overwrite,
        progress=progress,
        count=count,
        today=today,
    )
