"""Named evaluation protocols: the published one (``paper``) and one with a tuned readout (``tuned``).

A protocol fixes the readout of every reservoir estimator and the grid that model selection
(:func:`nwmodel.select_and_test`, ``nwhil run``, ``nwhil compare``) explores. Both use the same
80/20 selection split of the training set, the same seeds and the same test split.

=========  ================================================  ====================================
protocol   readout (fixed keyword arguments)                 grid
=========  ================================================  ====================================
paper      last state or last sample's readings              the published grids
           (``features="last"``), ``ridge_alpha=1``;         (:data:`nwmodel.GRIDS`) and
           the abstract reservoirs unstandardised, the       :data:`nwmodel.PHYSICAL_GRIDS`
           physical one standardised (as published and
           as before: bit for bit the same results)
tuned      standardised features, ``ridge_alpha="loo"``      the same abstract grids, and
           (efficient leave-one-out over                     :data:`nwmodel.TUNED_PHYSICAL_GRIDS`,
           :data:`nwmodel.models.readout.RIDGE_ALPHAS` on    each crossed with the feature sets
           fitting part only)                                :data:`TUNED_FEATURES` (those that fit
                                                             the series length)
=========  ================================================  ====================================

Under ``tuned`` the feature set is one more grid dimension, chosen on the validation part like
any other; configurations that differ in their readout only share one reservoir run per fit
(:func:`nwmodel.models.readout.fit_readouts`), so the readout choice costs ridge fits, not reservoir
runs. The trainable models (``nwrnn``, ``rnn``) have no separate readout: both protocols are the
published one for them.
"""

from __future__ import annotations

from typing import Any

from nwmodel._checks import check_choice, check_int
from nwmodel.selection._grids import GRIDS

__all__ = [
    "PROTOCOLS",
    "TUNED_FEATURES",
    "protocol_fixed",
    "protocol_grid",
]

#: Protocol names, the published one first.
PROTOCOLS: tuple[str, ...] = ("paper", "tuned")

#: Feature sets the ``tuned`` grids choose from (an int is a number of sample ends).
TUNED_FEATURES: tuple[str | int, ...] = ("last", 2, 6, 10, 20, "pooled")

#: Models whose readout a protocol sets (reservoirs); ``physical`` is the physical reservoir.
_RESERVOIRS: tuple[str, ...] = ("nwesn", "esn", "physical")


def _check(protocol: str, model: str) -> None:
    check_choice("protocol", protocol, PROTOCOLS)
    check_choice("model", model, (*GRIDS, "physical"))


def protocol_fixed(protocol: str, model: str) -> dict[str, Any]:
    """Keyword arguments that ``protocol`` gives every estimator of ``model``.

    Parameters
    ----------
    protocol : {"paper", "tuned"}
    model : {"nwesn", "esn", "nwrnn", "rnn", "physical"}
        A key of :data:`nwmodel.GRIDS`, or ``"physical"`` for
        :class:`~nwmodel.physical.reservoir.PhysicalReservoirClassifier` / ``Regressor``.

    Returns
    -------
    dict
        Empty for the trainable models.
    """
    _check(protocol, model)
    if model not in _RESERVOIRS:
        return {}
    if protocol == "paper":
        return {"features": "last", "ridge_alpha": 1.0, "standardize": model == "physical"}
    return {"ridge_alpha": "loo", "standardize": True}


def protocol_grid(protocol: str, model: str, level: str, n_timepoints: int | None = None) -> Any:
    """The grid that ``protocol`` explores for ``model`` at ``level`` ("quick" or "paper").

    Parameters
    ----------
    protocol, model
        As :func:`protocol_fixed`.
    level : {"quick", "paper"}
        Grid size.
    n_timepoints : int, optional
        Series length: ``tuned`` drops sample-end counts above it (None: keeps them all).

    Returns
    -------
    dict of lists
        A fresh copy; under ``tuned`` a reservoir's grid gains ``features``.
    """
    from nwmodel.physical.mapping import PHYSICAL_GRIDS, TUNED_PHYSICAL_GRIDS

    _check(protocol, model)
    check_choice("grid", level, ("quick", "paper"))
    if model == "physical":
        base = (PHYSICAL_GRIDS if protocol == "paper" else TUNED_PHYSICAL_GRIDS)[level]
    else:
        base = GRIDS[model][level]
    grid = {k: list(v) for k, v in base.items()}
    if protocol == "tuned" and model in _RESERVOIRS:
        n = None if n_timepoints is None else check_int("n_timepoints", n_timepoints, low=1)
        grid["features"] = [f for f in TUNED_FEATURES if isinstance(f, str) or n is None or f <= n]
    return grid
