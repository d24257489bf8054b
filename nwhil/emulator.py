"""``nwhil emulator serve``: serve a simulated device as a SCPI instrument over TCP (loopback only).

The command set is documented in :mod:`hardware.scpi.emulator`. The server prints one line
``serving <n> channels on TCPIP::HOST::PORT::SOCKET`` on stdout once it listens (``--port 0`` picks a
free port) and runs until Ctrl-C or SIGTERM, then stops cleanly: the port is closed and the
device's outputs are off, and the command exits with status 130 (interrupted), as every command
does on Ctrl-C. ``--host`` must be a loopback address (a usage error, exit 2, otherwise).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from typing import Any

from ._common import add_subcommands, int_in_range, nonneg_int, positive_int


def _loopback(text: str) -> str:
    """argparse ``type=`` for ``--host``: ``localhost`` or a loopback IP address."""
    if text == "localhost":
        return text
    try:
        if ipaddress.ip_address(text).is_loopback:
            return text
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected a loopback address (127.0.0.1, ::1 or localhost; the emulator never listens on "
        f"a network), got {text!r}"
    )


_loopback.__name__ = "loopback address"


def _serve(args: argparse.Namespace) -> int:
    import nwphys
    from hardware import SimulatedDevice, serve_emulator

    network = nwphys.load_network(args.device)
    names = list(network.circuit().electrode_names)
    inputs = args.inputs or []
    outputs = args.outputs or []
    ground = args.ground or []
    if not (inputs or outputs or ground):
        if len(names) < 2:
            from . import CLIError

            raise CLIError(f"device {args.device!r} has {len(names)} electrode(s); need at least 2")
        inputs, ground, outputs = [names[0]], [names[-1]], names[1:-1]
    device = SimulatedDevice(
        network,
        inputs=inputs,
        outputs=outputs,
        ground=ground,
        max_abs_V=args.max_abs_V,
        compliance_A=args.compliance_A,
        read_noise_V=args.read_noise_V,
        adc_bits=args.adc_bits,
        settling_tau_s=args.settling_tau_s,
        seed=args.seed,
        compliance_policy="record",
    )

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    server = None
    try:
        server = serve_emulator(device, host=args.host, port=args.port)
        print(f"serving {len(device.electrodes)} channels on {server.resource_name}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr, flush=True)
        raise  # the CLI's handler: "nwhil: interrupted", exit status 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.stop()
        device.close()
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Register the ``emulator`` group on ``parser``."""
    sub = add_subcommands(parser, "emulator_command")
    p = sub.add_parser(
        "serve",
        help="serve a device file as a SCPI instrument until Ctrl-C",
        description="Serve a simulated device over TCP as a multichannel source-measure "
        "instrument (command set: the docstring of hardware.scpi.emulator). Without "
        "--inputs/--outputs/--ground the first electrode is the input, the last is ground and the "
        "others are outputs.",
    )
    p.add_argument("device", help="nwphys device file (.h5)")
    p.add_argument(
        "--port",
        type=int_in_range(0, 65535),
        default=5025,
        help="TCP port (0 = pick a free one; default 5025)",
    )
    p.add_argument(
        "--host",
        type=_loopback,
        default="127.0.0.1",
        help="loopback address to listen on (default 127.0.0.1)",
    )
    p.add_argument("--inputs", nargs="+", metavar="NAME", help="input electrodes (driven, current read)")
    p.add_argument("--outputs", nargs="+", metavar="NAME", help="output electrodes (floating, voltage read)")
    p.add_argument("--ground", nargs="+", metavar="NAME", help="ground electrodes (0 V, current read)")
    p.add_argument("--max-abs-V", dest="max_abs_V", type=float, default=10.0, help="voltage limit (V)")
    p.add_argument("--compliance-A", dest="compliance_A", type=float, default=0.1, help="compliance (A)")
    p.add_argument("--read-noise-V", dest="read_noise_V", type=float, default=0.0, help="read noise std (V)")
    p.add_argument(
        "--adc-bits", dest="adc_bits", type=positive_int, default=None, help="ADC resolution (bits)"
    )
    p.add_argument(
        "--settling-tau-s",
        dest="settling_tau_s",
        type=float,
        default=0.0,
        help="source settling time constant (s)",
    )
    p.add_argument("--seed", type=nonneg_int, default=None, help="seed of the read noise")
    p.set_defaults(func=_serve)
