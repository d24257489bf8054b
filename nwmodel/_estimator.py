"""Shared machinery of the estimators of :mod:`nwmodel` (not public).

* :class:`ValidatedEstimator`: the one parameter validation of every estimator (scikit-learn's
  declared ``_parameter_constraints``, checked at the start of every fit), with the constraint
  builders :func:`number`, :func:`choice`, :func:`satisfies` and :data:`RANDOM_STATE_CONSTRAINT`;
* :func:`check_X`, :func:`check_y`: input validation of ``fit``/``predict``;
* :func:`init_params`: the class decorator that makes an estimator's annotated fields its
  ``__init__`` parameters, each declared once (type and default) on the class that owns it;
* :class:`RecurrentEstimator`: the parameters and declared constraints common to reservoirs and
  trained RNNs, the ``fit`` prologue and the weight initialisation;
* :data:`NW_CELL_CONSTRAINTS` and :class:`NWCellMixin`: the nanowire-cell hyperparameters
  (``gamma, slope, dt, kp0, kd0, eta_p, eta_d``) as :class:`~nwmodel.models.kernels.NWCellParams`;
* :class:`ClassifierTask`, :class:`RegressorTask`: scikit-learn's classifier/regressor mixins
  with the task name the estimators dispatch on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError, StrOptions

from nwmodel.errors import ModelValidationError
from nwmodel.models.kernels import ESNCellParams, NWCellParams, ReservoirWeights, init_weights

__all__ = [
    "NW_CELL_CONSTRAINTS",
    "RANDOM_STATE_CONSTRAINT",
    "ClassifierTask",
    "NWCellMixin",
    "RecurrentEstimator",
    "RegressorTask",
    "ValidatedEstimator",
    "check_X",
    "check_y",
    "choice",
    "init_params",
    "number",
    "satisfies",
]


class _Number(Interval):
    """scikit-learn's :class:`~sklearn.utils._param_validation.Interval` that also rejects ``bool``."""

    def is_satisfied_by(self, val: Any) -> bool:
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def number(kind: type, low: float | None, high: float | None, closed: str) -> Interval:
    """A parameter constraint: a ``kind`` (``Integral`` or ``Real``) number in an interval.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
        Integers only (floats such as ``3.0`` are refused), or any real number.
    low, high : float or None
        Bounds; None is unbounded. NaN and ``bool`` are always refused, and so is ``inf`` on an
        unbounded side that ``closed`` leaves open.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval (scikit-learn's convention): ``"left"`` with
        ``high=None`` is ``[low, inf)``.
    """
    return _Number(kind, low, high, closed=closed)


class _Choice(StrOptions):
    """scikit-learn's :class:`~sklearn.utils._param_validation.StrOptions` whose message lists the
    options in the order given (a set's iteration order varies between interpreter runs)."""

    def __init__(self, options: tuple[str, ...]):
        super().__init__(set(options))
        self.ordered = options

    def __str__(self) -> str:
        return f"a str among {{{', '.join(repr(o) for o in self.ordered)}}}"


def choice(*options: str) -> StrOptions:
    """A parameter constraint: one of the strings ``options`` (listed in this order in messages)."""
    return _Choice(options)


class _Satisfies(HasMethods):
    """A constraint given by a predicate and the phrase that describes it in messages.

    scikit-learn's ``make_constraint`` accepts its own constraint classes only, so this one
    derives from :class:`~sklearn.utils._param_validation.HasMethods` (with no methods) and
    replaces its test and its description.
    """

    def __init__(self, predicate: Callable[[Any], bool], description: str):
        super().__init__([])
        self.predicate = predicate
        self.description = description

    def is_satisfied_by(self, val: Any) -> bool:
        return bool(self.predicate(val))

    def __str__(self) -> str:
        return self.description


def satisfies(predicate: Callable[[Any], bool], description: str) -> HasMethods:
    """A parameter constraint met by the values for which ``predicate`` is true.

    Parameters
    ----------
    predicate : callable
        ``predicate(value) -> bool``; it must not raise.
    description : str
        What a valid value is, as it reads after "must be" in the error message
        (``"a non-empty 1-D sequence of finite numbers > 0"``).
    """
    return _Satisfies(predicate, description)


#: Constraints of ``random_state`` (the seeds :func:`nwmodel._checks.make_rng` accepts).
RANDOM_STATE_CONSTRAINT: list[Any] = [
    None,
    number(Integral, 0, None, "left"),
    np.random.Generator,
    np.random.SeedSequence,
]


class ValidatedEstimator(BaseEstimator):
    """The parameter validation of every :mod:`nwmodel` estimator: declared constraints.

    A subclass declares

    1. ``_parameter_constraints``: for **every** ``__init__`` parameter, the list of
       scikit-learn constraints (:mod:`sklearn.utils._param_validation`) of which a valid value
       meets at least one: :func:`number` (an ``Interval`` that refuses ``bool``),
       :func:`choice`, ``None``, a type, ``"boolean"``, ``"array-like"``, ``callable``, or
       :func:`satisfies` for a property of its own;
    2. optionally :meth:`_check_parameter_combinations`, for a rule that joins several
       parameters (``n_jobs > 1`` needs ``reset="restore"``).

    Every way to fit (``fit``, ``fit_transform``, and the ``_prepare``/``_adopt`` steps that
    :func:`nwmodel.models.readout.fit_readouts` and :func:`nwmodel.models.rnn.fit_stacked` use in its place)
    calls :meth:`_validate_params` first, before it reads the data or drives a device; whatever
    scikit-learn's ``skip_parameter_validation`` setting. A check that needs the data (an int
    ``features`` no larger than the series length, a device's readout) stays in ``fit``, after
    it. A violated constraint raises :class:`~nwmodel.errors.ModelValidationError` (a
    ``ValueError``) with scikit-learn's message, which names the parameter, the allowed values
    and the value given: ``The 'n_units' parameter of ESNClassifier must be an int in the range
    [1, inf). Got 0 instead.``
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints``, then their combinations.

        Raises
        ------
        ModelValidationError
            On the first parameter (in name order) that meets none of its constraints, or a
            violated combination.
        """
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            raise ModelValidationError(str(exc)) from None
        self._check_parameter_combinations()

    def _check_parameter_combinations(self) -> None:
        """Raise ModelValidationError if valid parameters are invalid together (none by default)."""


#: Constraints of the nanowire-cell hyperparameters (the ranges of
#: :class:`~nwmodel.models.kernels.NWCellParams`).
NW_CELL_CONSTRAINTS: dict[str, list[Any]] = {
    "gamma": [number(Real, 0.0, 1.0, "both")],
    **{
        name: [number(Real, 0.0, None, "neither")] for name in ("slope", "dt", "kp0", "kd0", "eta_p", "eta_d")
    },
}


def check_X(X: Any, n_channels: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite float array of shape (n_cases, n_channels, n_timepoints), or raise."""
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise ModelValidationError(
            "X must be a numeric array of shape (n_cases, n_channels, n_timepoints) (equal-length series)"
        ) from None
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise ModelValidationError(
            f"X must have shape (n_cases, n_channels, n_timepoints) with every size >= 1, got {arr.shape}"
        )
    if n_channels is not None and arr.shape[1] != n_channels:
        raise ModelValidationError(f"X must have {n_channels} channel(s) as in fit, got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ModelValidationError("X must be finite, got NaN or inf")
    return arr


def check_y(y: Any, n_cases: int, task: str) -> np.ndarray:
    """Return ``y`` as a 1-D array of ``n_cases`` finite targets, or raise ModelValidationError.

    Parameters
    ----------
    y : array_like of shape (n_cases,)
        Class labels (``task="classification"``, at least 2 distinct) or real targets
        (``task="regression"``, numeric, returned as floats).
    n_cases : int
        The number of series in ``X``.
    task : {"classification", "regression"}
        What ``y`` holds.
    """
    regression = task == "regression"
    what = "numbers (regression)" if regression else "class labels"
    try:
        arr = check_array(y, ensure_2d=False, dtype="numeric" if regression else None, input_name="y")
    except (TypeError, ValueError) as exc:
        raise ModelValidationError(
            f"y must be a finite 1-D array of {n_cases} {what}, got an invalid array: {exc}"
        ) from None
    if arr.ndim != 1 or arr.shape[0] != n_cases:
        raise ModelValidationError(f"y must have shape ({n_cases},), got {arr.shape}")
    if regression:
        return arr.astype(float, copy=False)
    classes = np.unique(arr)
    if len(classes) < 2:
        raise ModelValidationError(f"y must hold at least 2 classes, got {classes.tolist()}")
    return arr


def init_params(cls: type) -> type:
    """Class decorator: the annotated fields of ``cls`` and of its decorated bases are its ``__init__``.

    Each field (``name: type = default``) is one keyword-only parameter, stored unchanged as an
    attribute; nothing is validated there (scikit-learn convention: validation happens in
    ``fit``). The generated ``__init__`` has an explicit signature, which scikit-learn's
    ``get_params``/``clone`` read. A class that combines decorated bases is decorated too, so that
    its ``__init__`` takes the fields of all of them. Class attributes that are not parameters
    are annotated ``ClassVar``. Equality and ``repr`` stay scikit-learn's.
    """
    return dataclasses.dataclass(kw_only=True, eq=False, repr=False, match_args=False)(cls)


def _fields_of(params: type) -> Callable[[type], type]:
    """Class decorator: every field of the dataclass ``params`` (type and default) becomes a field
    of the class, for :func:`init_params` to make a parameter."""

    def add(cls: type) -> type:
        for f in dataclasses.fields(params):
            cls.__annotations__[f.name] = f.type
            setattr(cls, f.name, f.default)
        return cls

    return add


@init_params
class RecurrentEstimator(ValidatedEstimator):
    """Validation and initialisation shared by the reservoir and the trainable estimators.

    A subclass provides

    1. ``_cell`` (``"nw"`` or ``"esn"``, the kernel cell) and ``_cell_params()``;
    2. ``_task`` (through :class:`ClassifierTask` or :class:`RegressorTask`);
    3. its own parameters as annotated fields with defaults, the class decorated with
       :func:`init_params` (the weight scales, ``device`` and ``random_state`` are fields here);
    4. ``_parameter_constraints``: this class's table extended by its own parameters
       (``{**Base._parameter_constraints, "name": [constraint, ...]}``), as
       :class:`ValidatedEstimator` describes.

    :meth:`_validate_fit_inputs`, the first step of every fit, validates the parameters and
    then the data.
    """

    _cell: ClassVar[str] = ""
    _task: ClassVar[str] = ""
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_units": [number(Integral, 1, None, "left")],
        "input_scaling": [number(Real, 0.0, None, "left")],
        "bias_scaling": [number(Real, 0.0, None, "left")],
        "spectral_radius": [number(Real, 0.0, None, "left")],
        "dtype": [choice("float64", "float32")],
        "device": [str],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    n_units: int = 100
    input_scaling: float = 1.0
    bias_scaling: float = 0.1
    spectral_radius: float = 0.9
    device: str = "cpu"
    random_state: int | np.random.Generator | None = None

    def _cell_params(self) -> NWCellParams | ESNCellParams:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_fit_inputs(
        self, X: Any, y: Any
    ) -> tuple[NWCellParams | ESNCellParams, np.ndarray, np.ndarray]:
        """Validate the parameters and the training data; return (cell params, X, y)."""
        self._validate_params()
        cell_params = self._cell_params()
        X = check_X(X)
        y = check_y(y, X.shape[0], self._task)
        return cell_params, X, y

    def _init_weights(
        self,
        n_channels: int,
        seed: int | np.random.Generator | None,
        exact_spectral_radius: bool = False,
    ) -> ReservoirWeights:
        """Draw ``W_h``, ``W_x``, ``b`` for ``n_channels`` inputs from the estimator's scales."""
        return init_weights(
            self.n_units,
            n_channels,
            spectral_radius_target=self.spectral_radius,
            input_scaling=self.input_scaling,
            bias_scaling=self.bias_scaling,
            exact_spectral_radius=exact_spectral_radius,
            seed=seed,
        )


@init_params
@_fields_of(NWCellParams)
class NWCellMixin:
    """Nanowire cell (``_cell = "nw"``) built from the ``gamma ... eta_d`` estimator parameters.

    The parameters are the fields of :class:`~nwmodel.models.kernels.NWCellParams`, with its defaults.
    The estimator puts this mixin first among its bases, is decorated with :func:`init_params`
    and adds :data:`NW_CELL_CONSTRAINTS` to its ``_parameter_constraints``.
    """

    _cell: ClassVar[str] = "nw"

    def _cell_params(self) -> NWCellParams:
        return NWCellParams(**{f.name: getattr(self, f.name) for f in dataclasses.fields(NWCellParams)})


class ClassifierTask(ClassifierMixin):
    """scikit-learn classifier mixin; the estimator fits labels (``_task = "classification"``)."""

    _task = "classification"


class RegressorTask(RegressorMixin):
    """scikit-learn regressor mixin; the estimator fits real targets (``_task = "regression"``)."""

    _task = "regression"
