"""The registry of integration methods: one row per method, used by every entry point.

:func:`nwphys.simulate` (a drive over a time grid), :class:`nwphys.Stepper` (held samples) and
:class:`hardware.SimulatedDevice` (held samples behind the Device API) resolve ``method=`` here,
so a name means the same thing everywhere and an unknown name gives the same one-line error,
listing the registered methods.

============ ======================================================= ========= ==============
name         what it is                                              simulate  held samples
============ ======================================================= ========= ==============
sdirk2       error-controlled stiff SDIRK2, exact Newton             yes       yes (default)
sdirk2-sn    the same scheme compiled, simplified Newton, batched    no        yes
esdirk3-sn   third-order ESDIRK, same engine, fewer steps per sample no        yes
esdirk3-cuda the same, a batch's series at once on a CUDA GPU        no        yes
exact        frozen-voltage fixed step, first order, guarded         yes       yes
ivp          scipy ``solve_ivp`` (LSODA)                             yes       no
RK45 ...     scipy ``solve_ivp`` with that method                    yes       no
============ ======================================================= ========= ==============

A held-sample method is one class of :mod:`nwphys.dynamics._held_methods` (the protocol is documented
there) and one row here. :func:`register_method` adds a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from nwphys.dynamics._held_methods import (
    BatchedEsdirkCudaHeld,
    BatchedEsdirkHeld,
    BatchedHeld,
    ExactHeld,
    HeldMethod,
    SdirkHeld,
)
from nwphys.errors import ValidationError

__all__ = ["METHODS", "IntegrationMethod", "get_method", "method_names", "register_method"]


@dataclass(frozen=True)
class IntegrationMethod:
    """One row of the registry.

    Attributes
    ----------
    name : str
        The ``method=`` name.
    summary : str
        One line for listings and help.
    held : type of HeldMethod or None
        The class that integrates held samples (:class:`~nwphys.dynamics.stepper.Stepper`,
        :class:`hardware.SimulatedDevice`); None when the method does not.
    simulate : bool
        Whether :func:`nwphys.simulate` accepts it.
    adaptive : bool
        Whether it chooses its own internal steps (a long hold is then one sample).
    tolerances : bool
        Whether it uses ``rtol`` / ``atol``.
    batched : bool
        Whether it integrates independent series in one call (:class:`nwphys.dynamics.batched.BatchedEngine`).
    """

    name: str
    summary: str
    held: type[HeldMethod] | None = None
    simulate: bool = False
    adaptive: bool = True
    tolerances: bool = True
    batched: bool = False


_IVP = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")

#: name -> row. Order is the order of listings.
METHODS: dict[str, IntegrationMethod] = {
    m.name: m
    for m in (
        IntegrationMethod(
            "sdirk2", "error-controlled stiff SDIRK2, exact Newton (nwphys.dynamics.implicit)", SdirkHeld,
            True,
        ),
        IntegrationMethod(
            "sdirk2-sn",
            "SDIRK2 compiled, simplified Newton, batched series (nwphys.dynamics.batched; rate_balance only)",
            BatchedHeld,
            False,
            batched=True,
        ),
        IntegrationMethod(
            "esdirk3-sn",
            "third-order ESDIRK compiled, simplified Newton, batched series (nwphys.dynamics.batched; "
            "rate_balance only)",
            BatchedEsdirkHeld,
            False,
            batched=True,
        ),
        IntegrationMethod(
            "esdirk3-cuda",
            "third-order ESDIRK, every series of a batch at once on a CUDA GPU (the torch path of "
            "nwphys.dynamics.batched; rate_balance only)",
            BatchedEsdirkCudaHeld,
            False,
            batched=True,
        ),
        IntegrationMethod(
            "exact",
            "frozen-voltage fixed step, first order, switching-time guard",
            ExactHeld,
            True,
            adaptive=False,
            tolerances=False,
        ),
        IntegrationMethod("ivp", "scipy solve_ivp with LSODA", None, True),
        *(IntegrationMethod(n, f"scipy solve_ivp with {n}", None, True) for n in _IVP),
    )
}


def method_names(*, simulate: bool | None = None, held: bool | None = None) -> tuple[str, ...]:
    """Registered names, optionally only those :func:`nwphys.simulate` (``simulate=True``) or
    the held-sample entry points (``held=True``) accept."""
    return tuple(
        n
        for n, m in METHODS.items()
        if (simulate is None or m.simulate == simulate) and (held is None or (m.held is not None) == held)
    )


def get_method(name: object, *, simulate: bool = False, held: bool = False) -> IntegrationMethod:
    """The registry row of ``name``, checked for the entry point that asks.

    Parameters
    ----------
    name : str
        The ``method=`` value.
    simulate, held : bool
        Require a method that :func:`nwphys.simulate` accepts, or one that integrates held samples.

    Raises
    ------
    ValidationError
        One line naming the value and the registered methods (those the entry point accepts).
    """
    if not isinstance(name, str) or name not in METHODS:
        raise ValidationError(
            f"method must be one of the registered integration methods ({', '.join(METHODS)}), got {name!r}"
        )
    m = METHODS[name]
    if simulate and not m.simulate:
        raise ValidationError(
            f"method {name!r} integrates held samples only (Stepper, SimulatedDevice); "
            f"simulate accepts {', '.join(method_names(simulate=True))}"
        )
    if held and m.held is None:
        raise ValidationError(
            f"method {name!r} does not integrate held samples; Stepper and SimulatedDevice accept "
            f"{', '.join(method_names(held=True))}"
        )
    return m


def register_method(method: IntegrationMethod) -> IntegrationMethod:
    """Add a row to :data:`METHODS` (a new name only) and return it."""
    if not isinstance(method, IntegrationMethod) or not method.name:
        raise ValidationError("register_method needs an IntegrationMethod with a non-empty name")
    if method.name in METHODS:
        raise ValidationError(f"method {method.name!r} is already registered")
    held = method.held
    if held is not None and not (isinstance(held, type) and issubclass(held, HeldMethod)):
        raise ValidationError(f"method {method.name!r}: held must be a HeldMethod subclass")
    METHODS[method.name] = method
    return method
