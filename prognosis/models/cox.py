"""Cox proportional-hazards models: lifelines ``CoxPHFitter`` and scikit-survival's coxnet.

``CoxPH`` never returns a fit that did not converge. lifelines reports trouble with a
``ConvergenceWarning`` while still handing back coefficients, or lets numpy overflow and then
raises ``ConvergenceError`` (its default Newton step does that on scikit-survival's
``flchain``, where a step of 0.5 converges). All of these count as a failed attempt here, as
does a "maximum" whose partial likelihood is below the null model's; the fit is retried with
smaller Newton steps, and :class:`ModelConvergenceError` is raised when every step fails.

The shared lifelines plumbing (a DataFrame with named columns, the retry loop, step-function
lookup) lives here as plain functions that :mod:`prognosis.models.parametric` and
:mod:`prognosis.models.competing` reuse.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import proportional_hazard_test
from sklearn.model_selection import StratifiedKFold
from sksurv.exceptions import NoComparablePairException
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from prognosis.exceptions import ModelConvergenceError
from prognosis.models.base import ShapOutput, SurvivalEstimator
from prognosis.models.explaining import LINEAR_SHAP, LinearShapMixin, ProportionalHazardsMixin
from prognosis.models.state import from_skops, get_table, put_table, skops_bytes
from prognosis.models.survival import proportional_hazards_interval, step_function
from prognosis.models.target import SurvivalTarget, TargetError

__all__ = [
    "EVENT",
    "STEP_SIZES",
    "TIME",
    "CoxNet",
    "CoxPH",
    "ModelConvergenceError",
    "cox_fit_problem",
    "cox_summary",
    "coxnet_cv_concordance",
    "feature_names",
    "fit_converged",
    "lifelines_calls",
    "lifelines_frame",
    "ph_test",
]

#: Newton step sizes tried in turn: lifelines' default, then smaller, safer steps.
STEP_SIZES: tuple[float, ...] = (0.95, 0.5, 0.25, 0.1)

#: Column names of the time and event in the frames handed to lifelines.
TIME, EVENT = "__time__", "__event__"

_SUMMARY_COLUMNS = {
    "coef": "coef",
    "se(coef)": "se",
    "exp(coef)": "hazard_ratio",
    "exp(coef) lower 95%": "hazard_ratio_lower_95",
    "exp(coef) upper 95%": "hazard_ratio_upper_95",
    "p": "p",
}

Fitter = TypeVar("Fitter")

#: What a fitted coxnet may contain beyond the types skops trusts by default.
_COXNET_TYPES = (
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
    "sksurv.linear_model.coxph.BreslowEstimator",
)


# -- plain functions ------------------------------------------------------------------------
@contextmanager
def lifelines_calls(*, fitting: bool = False) -> Iterator[None]:
    """Around every lifelines call: hide the pandas deprecation notices that lifelines' own
    code triggers (nothing we can act on). While ``fitting``, every ``RuntimeWarning`` becomes
    an error: lifelines' ``ConvergenceWarning`` is one, and so is numpy's overflow in ``exp``
    when a Newton step shoots off.
    """
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"lifelines(\.|$)")
        if fitting:
            warnings.simplefilter("error", RuntimeWarning)
        yield


def lifelines_frame(
    X: np.ndarray, names: Sequence[str], target: SurvivalTarget | None = None
) -> pd.DataFrame:
    """The DataFrame lifelines wants: one named column per feature (plus time and event)."""
    frame = pd.DataFrame(X, columns=list(names))
    if target is not None:
        frame[TIME] = target.time
        frame[EVENT] = (target.event == 1).astype(int)
    return frame


def feature_names(estimator: SurvivalEstimator) -> list[str]:
    """The fitted estimator's input feature names, or ``x0 .. xn`` for a plain array."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return [f"x{i}" for i in range(estimator.n_features_in_)]
    return [str(name) for name in names]


def fit_converged(
    fit_once: Callable[[dict[str, Any] | None], Fitter],
    options: Sequence[dict[str, Any] | None],
    *,
    model: str,
    check: Callable[[Fitter], str | None] = lambda fitter: None,
) -> tuple[Fitter, dict[str, Any] | None]:
    """Fit with each set of options in turn until one converges cleanly.

    An attempt fails when lifelines warns ``ConvergenceWarning`` or numpy warns of overflow
    (both turned into errors here), lifelines raises ``ConvergenceError``, or ``check``
    returns a reason. Returns the fitter and the options that worked; raises
    :class:`ModelConvergenceError` naming every setting tried and why it failed.
    """
    failures: dict[str, list[str]] = {}  # reason -> the settings that failed with it
    for option in options:
        try:
            with lifelines_calls(fitting=True):
                fitter = fit_once(option)
        except (RuntimeWarning, ConvergenceError) as problem:
            reason = _reason(problem)
        else:
            with lifelines_calls():
                reason = check(fitter)
            if reason is None:
                return fitter, option
        failures.setdefault(reason, []).append(_label(option))
    tried = "; ".join(f"{', '.join(labels)}: {reason}" for reason, labels in failures.items())
    raise ModelConvergenceError(
        f"{model} did not converge with any of {len(options)} settings tried ({tried}). "
        "Look for collinear, near-constant or perfectly separating features."
    )


def _label(option: dict[str, Any] | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in (option or {}).items()) or "defaults"


def _reason(problem: Exception) -> str:
    """lifelines' message without its pointer to the docs, on one line."""
    text = " ".join(str(problem).split("Please see")[0].split())
    return text.rstrip(". ") or type(problem).__name__


def cox_fit_problem(fitter: CoxPHFitter) -> str | None:
    """Why a lifelines Cox fit that raised nothing is still not a maximum, or None."""
    if not np.all(np.isfinite(fitter.params_)) or not np.all(np.isfinite(fitter.standard_errors_)):
        return "non-finite coefficients or standard errors"
    # At the maximum the partial likelihood is at least its value at beta = 0.
    if fitter.log_likelihood_ratio_test().test_statistic < -1e-6:
        return "partial log-likelihood below that of the null model (diverged)"
    return None


def cox_summary(fitter: CoxPHFitter) -> pd.DataFrame:
    """Coefficients, standard errors, hazard ratios with 95% CI, and p per covariate."""
    summary = fitter.summary[list(_SUMMARY_COLUMNS)].rename(columns=_SUMMARY_COLUMNS)
    summary.index.name = "covariate"
    return summary


def ph_test(fitter: CoxPHFitter, frame: pd.DataFrame) -> pd.DataFrame:
    """Schoenfeld-residual test of proportional hazards per covariate (KM time, as R)."""
    with lifelines_calls():
        result = proportional_hazard_test(fitter, frame, time_transform="km")
    table = result.summary[["test_statistic", "p"]].copy()
    table.index = [name[0] if isinstance(name, tuple) else name for name in table.index]
    table.index.name = "covariate"
    return table


def coxnet_cv_concordance(
    X: np.ndarray,
    y: np.ndarray,
    alphas: np.ndarray,
    *,
    l1_ratio: float,
    cv: int,
    random_state: int | None,
) -> np.ndarray:
    """Harrell's C of the coxnet path at each alpha, per fold: an array (n_folds, n_alphas).

    Folds are stratified on the event indicator so each holds events; a fold without a
    comparable pair scores NaN.
    """
    counts = np.unique(y["event"], return_counts=True)[1]
    n_splits = min(cv, int(counts.min()))
    if n_splits < 2:
        raise TargetError(
            f"choosing the coxnet penalty by {cv}-fold cross-validation needs at least 2 "
            f"events (and 2 censored rows, if any); y has {int(y['event'].sum())} events "
            f"in {len(y)} rows"
        )
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    scores = np.full((folds.n_splits, len(alphas)), np.nan)
    for fold, (train, test) in enumerate(folds.split(X, y["event"])):
        path = CoxnetSurvivalAnalysis(alphas=alphas, l1_ratio=l1_ratio).fit(X[train], y[train])
        for column, alpha in enumerate(alphas):
            scores[fold, column] = _concordance(y[test], path.predict(X[test], alpha=alpha))
    return scores


def _concordance(y: np.ndarray, risk: np.ndarray) -> float:
    if not y["event"].any():
        return np.nan
    try:
        return concordance_index_censored(y["event"], y["time"], risk)[0]
    except NoComparablePairException:
        return np.nan


# -- estimators -----------------------------------------------------------------------------
class CoxPH(LinearShapMixin, ProportionalHazardsMixin, SurvivalEstimator):
    """Cox proportional-hazards regression (lifelines ``CoxPHFitter``, Breslow baseline).

    Explained by exact linear SHAP of the log hazard ratio, against the training means when no
    background is given (the log partial hazard is centred on them, so the base value is 0).

    Parameters
    ----------
    penalizer : float
        Elastic-net penalty strength (0 = the classical unpenalised model).
    l1_ratio : float
        Share of the penalty that is L1.
    ties : {"efron"}
        Tie handling; lifelines implements Efron's method only.

    Predictions come from the arrays below, not from a lifelines object (none is kept), so a
    model loaded from its saved state predicts exactly as the fitted one.

    Attributes
    ----------
    coef_ : ndarray (n_features,)
        Log hazard ratios.
    training_mean_ : ndarray (n_features,)
        Training means of the inputs; the log partial hazard is ``(x - training_mean_) @
        coef_`` (lifelines centres it so, and its baseline is at these means).
    baseline_times_, baseline_cumulative_hazard_ : ndarray
        Breslow baseline cumulative hazard (at ``x = training_mean_``) and its times.
    summary_ : DataFrame
        ``coef``, ``se``, ``hazard_ratio``, ``hazard_ratio_lower_95``,
        ``hazard_ratio_upper_95``, ``p`` per covariate.
    proportional_hazards_test_ : DataFrame
        Schoenfeld-residual test per covariate (``test_statistic``, ``p``), with the
        Kaplan-Meier time transform that R's ``cox.zph`` uses by default. lifelines offers no
        global test.
    step_size_ : float
        The Newton step size that converged.
    variance_ : ndarray (n_features, n_features) or None
        lifelines' estimated covariance of ``coef_`` (None for a model saved without it), for
        :meth:`predict_risk_interval`.
    """

    shap_output = ShapOutput("log hazard", 1, LINEAR_SHAP)

    def __init__(self, *, penalizer: float = 0.0, l1_ratio: float = 0.0, ties: str = "efron"):
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.ties = ties

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        if self.ties != "efron":
            raise ValueError(
                f"CoxPH ties={self.ties!r} is not supported; lifelines implements 'efron' only"
            )
        frame = lifelines_frame(X, feature_names(self), target)

        def fit_once(options: dict[str, Any] | None) -> CoxPHFitter:
            fitter = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio)
            return fitter.fit(frame, TIME, EVENT, fit_options=options)

        fitter, options = fit_converged(
            fit_once,
            [{"step_size": step} for step in STEP_SIZES],
            model="CoxPH",
            check=cox_fit_problem,
        )
        self.step_size_ = options["step_size"] if options else STEP_SIZES[0]
        names = feature_names(self)
        self.coef_ = fitter.params_.reindex(names).to_numpy(dtype=float)
        variance = fitter.variance_matrix_.reindex(index=names, columns=names)
        self.variance_ = variance.to_numpy(dtype=float)
        self.training_mean_ = X.mean(axis=0)  # lifelines centres its fit on these means
        self.summary_ = cox_summary(fitter)
        self.proportional_hazards_test_ = ph_test(fitter, frame)
        hazard = fitter.baseline_cumulative_hazard_
        self.baseline_times_ = hazard.index.to_numpy(dtype=float)
        self.baseline_cumulative_hazard_ = hazard.iloc[:, 0].to_numpy(dtype=float)

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return (X - self.training_mean_) @ self.coef_

    def predict_risk_interval(
        self, X: Any, horizon: float, *, level: float = 0.95
    ) -> np.ndarray | None:
        """An interval for each row's risk by ``horizon``, from the coefficients' uncertainty.

        The log partial hazard ``eta = (x - training_mean_) @ coef_`` has the standard error
        ``sqrt(d' V d)`` (``d = x - training_mean_``, ``V = variance_``); its normal interval
        ``eta +/- z se`` is carried to the risk ``1 - exp(-H0(h) exp(eta))``, which rises with
        eta, with the Breslow baseline ``H0`` held fixed (its own uncertainty is left out).

        Returns
        -------
        ndarray (n, 2) or None
            Lower and upper risk per row; None for a model saved without ``variance_``.
        """
        if getattr(self, "variance_", None) is None:
            return None
        X = self._validate(X)
        grid = self.check_prediction_times([horizon])
        baseline = step_function(
            self.baseline_times_, self.baseline_cumulative_hazard_[None, :], grid, before=0.0
        )[0, 0]
        return proportional_hazards_interval(
            X - self.training_mean_, self.coef_, self.variance_, baseline, level=level
        )

    def linear_coefficients(self) -> np.ndarray:
        """The log hazard ratio of each input column (``coef_``)."""
        return np.asarray(self.coef_, dtype=float)

    def summary_table(self) -> pd.DataFrame:
        """``summary_`` (coefficients, hazard ratios with 95% CI and p per covariate) and, where
        it was computed, the p value of the proportional-hazards test of each covariate
        (``proportional_hazards_p``)."""
        test = self.proportional_hazards_test_
        if test is None or "p" not in test.columns:
            return self.summary_
        return self.summary_.join(test["p"].rename("proportional_hazards_p"))

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return self.predict(X)

    def _training_means(self) -> np.ndarray:
        return np.asarray(self.training_mean_, dtype=float)

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            relative = np.exp(self._predict_score(X))
        baseline = step_function(
            self.baseline_times_,
            np.exp(-self.baseline_cumulative_hazard_)[None, :],
            times,
            before=1.0,
        )
        return baseline ** relative[:, None]

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"step_size": self.step_size_}
        arrays = {
            "coef": self.coef_,
            "training_mean": self.training_mean_,
            "baseline_times": self.baseline_times_,
            "baseline_cumulative_hazard": self.baseline_cumulative_hazard_,
        }
        if getattr(self, "variance_", None) is not None:
            arrays["variance"] = self.variance_
        put_table(state, arrays, "summary", self.summary_)
        put_table(state, arrays, "proportional_hazards_test", self.proportional_hazards_test_)
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.step_size_ = float(state["step_size"])
        self.coef_ = np.asarray(arrays["coef"], dtype=float)
        self.training_mean_ = np.asarray(arrays["training_mean"], dtype=float)
        self.baseline_times_ = np.asarray(arrays["baseline_times"], dtype=float)
        self.baseline_cumulative_hazard_ = np.asarray(
            arrays["baseline_cumulative_hazard"], dtype=float
        )
        variance = arrays.get("variance")  # absent from models saved before it was kept
        self.variance_ = None if variance is None else np.asarray(variance, dtype=float)
        self.summary_ = get_table(state, arrays, "summary")
        self.proportional_hazards_test_ = get_table(state, arrays, "proportional_hazards_test")


class CoxNet(LinearShapMixin, ProportionalHazardsMixin, SurvivalEstimator):
    """Elastic-net Cox (scikit-survival coxnet); alpha chosen by k-fold CV concordance.

    Explained by exact linear SHAP of the log hazard ratio against a background (it keeps no
    training means).

    Inputs should be standardised (``make_preprocessor(scale=True)``): the penalty treats
    every coefficient alike.

    Parameters
    ----------
    l1_ratio : float
        Share of the penalty that is L1 (0 < l1_ratio <= 1).
    n_alphas : int
        Length of the penalty path computed on the whole training set.
    cv : int
        Number of folds (stratified on the event) for choosing alpha.
    random_state : int or None
        Seed of the fold shuffle.

    Attributes
    ----------
    model_ : sksurv.linear_model.CoxnetSurvivalAnalysis
        Refitted on all training rows at ``alpha_``, with its Breslow baseline.
    alpha_ : float
    alphas_ : ndarray
        The penalty path that was searched.
    cv_concordance_ : ndarray
        Mean held-out concordance at each alpha of ``alphas_``.
    """

    shap_output = ShapOutput("log hazard", 1, LINEAR_SHAP)

    def __init__(
        self,
        *,
        l1_ratio: float = 0.5,
        n_alphas: int = 50,
        cv: int = 5,
        random_state: int | None = 0,
    ):
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.cv = cv
        self.random_state = random_state

    def _fit(self, X: np.ndarray, target: SurvivalTarget) -> None:
        y = target.for_cause(1)
        path = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_alphas).fit(X, y)
        self.alphas_ = path.alphas_
        scores = coxnet_cv_concordance(
            X,
            y,
            self.alphas_,
            l1_ratio=self.l1_ratio,
            cv=self.cv,
            random_state=self.random_state,
        )
        self.cv_concordance_ = np.nanmean(scores, axis=0)
        self.alpha_ = float(self.alphas_[np.nanargmax(self.cv_concordance_)])
        self.model_ = CoxnetSurvivalAnalysis(
            alphas=[self.alpha_], l1_ratio=self.l1_ratio, fit_baseline_model=True
        ).fit(X, y)

    def _predict_score(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def linear_coefficients(self) -> np.ndarray:
        """The log hazard ratio of each input column at the chosen ``alpha_``."""
        return np.asarray(self.model_.coef_, dtype=float)[:, -1]

    def summary_table(self) -> pd.DataFrame:
        """``coef`` and ``hazard_ratio`` per covariate (a penalised fit has no standard errors)."""
        coef = self.linear_coefficients()
        table = pd.DataFrame(
            {"coef": coef, "hazard_ratio": np.exp(coef)}, index=pd.Index(feature_names(self))
        )
        table.index.name = "covariate"
        return table

    def _linear_output(self, X: np.ndarray) -> np.ndarray:
        return self.predict(X)

    def _predict_survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        survival = self.model_.predict_survival_function(X, return_array=True)
        return step_function(self.model_.unique_times_, survival, times, before=1.0)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {"alpha": self.alpha_}
        arrays = {
            "alphas": np.asarray(self.alphas_, dtype=float),
            "cv_concordance": self.cv_concordance_,
            "model": skops_bytes(self.model_),
        }
        return state, arrays

    def _set_fitted_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.alpha_ = float(state["alpha"])
        self.alphas_ = np.asarray(arrays["alphas"], dtype=float)
        self.cv_concordance_ = np.asarray(arrays["cv_concordance"], dtype=float)
        self.model_ = from_skops(arrays["model"], _COXNET_TYPES)
