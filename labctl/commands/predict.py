"""``labctl predict link|sweep``: what the physics model expects of a link.

Link options default to the NV-like 2 m link of Humphreys et al. (2018)
(`labctl.physics.presets`); ``--world`` starts from another named set.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from labctl.commands.output import print_json, table
from labctl.errors import ParameterError
from labctl.physics.bell import best_chsh_with_readout, max_chsh
from labctl.physics.emitter import Readout
from labctl.physics.link import PROTOCOLS, LinkParameters, LinkPrediction, predict
from labctl.physics.presets import PRESETS, preset

#: Command-line option -> (LinkParameters field, conversion to SI).
_LINK_OPTIONS: dict[str, tuple[str, Any]] = {
    "alpha": ("alpha", float),
    "eta_a": ("eta_a", float),
    "eta_b": ("eta_b", float),
    "visibility": ("visibility", float),
    "phase_noise_deg": ("phase_noise", math.radians),
    "dark_count_rate": ("dark_count_rate", float),
    "window": ("window", float),
    "double_excitation": ("double_excitation", float),
    "attempt_time": ("attempt_time", float),
    "fibre_km": ("fibre_km", float),
    "fibre_loss_db_km": ("fibre_loss_db_per_km", float),
}
#: Parameters `sweep` can scan (option names, with "eta" setting both nodes).
SWEEPABLE = ("alpha", "eta", *(k for k in _LINK_OPTIONS if k not in ("eta_a", "eta_b")))


def _add_link_options(parser: argparse.ArgumentParser) -> None:
    link = parser.add_argument_group("link parameters (default: the nv-short world)")
    link.add_argument("--world", choices=sorted(PRESETS), default="nv-short",
                      help="named parameter set to start from (default: %(default)s)")
    link.add_argument("--protocol", choices=PROTOCOLS, help="entangling protocol")
    link.add_argument("--alpha", type=float, help="bright-state population α (single click)")
    link.add_argument("--eta", type=float,
                      help="per-node detection probability, both nodes (without fibre)")
    link.add_argument("--eta-a", type=float, help="node A detection probability")
    link.add_argument("--eta-b", type=float, help="node B detection probability")
    link.add_argument("--visibility", type=float, help="two-photon (HOM) visibility")
    link.add_argument("--phase-noise-deg", type=float, help="rms optical phase noise, degrees")
    link.add_argument("--dark-count-rate", type=float, help="dark counts per detector, Hz")
    link.add_argument("--window", type=float, help="detection window, s")
    link.add_argument("--double-excitation", type=float, help="double-excitation probability")
    link.add_argument("--attempt-time", type=float,
                      help="duration of one attempt, s (default: reset time per round)")
    link.add_argument("--fibre-km", type=float,
                      help="node-to-node fibre length, km (heralding station at the midpoint)")
    link.add_argument("--fibre-loss-db-km", type=float, help="fibre attenuation, dB/km")
    link.add_argument("--no-wait", action="store_true",
                      help="do not wait for the herald between attempts")
    link.add_argument("--readout-f0", type=float, default=0.95,
                      help="spin readout fidelity of the bright state (default: %(default)s)")
    link.add_argument("--readout-f1", type=float, default=0.995,
                      help="spin readout fidelity of the dark state (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def register(commands: argparse._SubParsersAction[Any]) -> None:
    command = commands.add_parser("predict", help="predict what a link will do")
    predictions = command.add_subparsers(dest="predict_command", required=True,
                                         metavar="SUBCOMMAND")
    link = predictions.add_parser(
        "link", help="herald probability, rate, fidelity, correlators and CHSH S of a link")
    _add_link_options(link)
    link.set_defaults(handler=predict_link)
    sweep = predictions.add_parser(
        "sweep", help="the rate/fidelity trade-off over one parameter, as a table or plot")
    sweep.add_argument("parameter", choices=SWEEPABLE, help="the parameter to scan")
    sweep.add_argument("--from", dest="start", type=float, required=True, help="first value")
    sweep.add_argument("--to", dest="stop", type=float, required=True, help="last value")
    sweep.add_argument("--steps", type=int, default=13, help="number of values (default 13)")
    sweep.add_argument("--log", action="store_true", help="space the values logarithmically")
    sweep.add_argument("--plot", type=Path, metavar="FILE.png",
                       help="also write the trade-off as a PNG plot")
    _add_link_options(sweep)
    sweep.set_defaults(handler=predict_sweep)


def link_parameters(args: argparse.Namespace, **overrides: float) -> LinkParameters:
    """The preset named by ``--world`` with every given option (and ``overrides``) applied."""
    changes: dict[str, Any] = {}
    if args.protocol is not None:
        changes["protocol"] = args.protocol
    values = {name: getattr(args, name) for name in _LINK_OPTIONS}
    if args.eta is not None:
        values["eta_a"] = values["eta_a"] if values["eta_a"] is not None else args.eta
        values["eta_b"] = values["eta_b"] if values["eta_b"] is not None else args.eta
    for option, value in {**values, **overrides}.items():
        if option == "eta":
            values["eta_a"] = values["eta_b"] = value
            changes["eta_a"] = changes["eta_b"] = float(value)
            continue
        if value is None:
            continue
        field, convert = _LINK_OPTIONS[option]
        changes[field] = convert(value)
    if args.no_wait:
        changes["wait_for_herald"] = False
    try:
        return dataclasses.replace(preset(args.world), **changes)
    except ValueError as error:
        raise ParameterError(_option_names(str(error))) from None


def _option_names(message: str) -> str:
    """Speak of command-line options, not dataclass fields, in error messages."""
    for option, (field, _) in _LINK_OPTIONS.items():
        if message.startswith(f"{field} "):
            return f"--{option.replace('_', '-')}" + message[len(field):]
    return message


def _readouts(args: argparse.Namespace) -> Readout:
    try:
        return Readout(args.readout_f0, args.readout_f1)
    except ValueError as error:
        raise ParameterError(str(error).replace("readout f", "--readout-f")) from None


def summarise(prediction: LinkPrediction, readout: Readout) -> dict[str, Any]:
    """The keys ``predict link --json`` prints."""
    params = prediction.params
    return {
        "protocol": params.protocol,
        "p_herald": prediction.p_herald,
        "rate_hz": prediction.rate_hz,
        "fidelity": prediction.fidelity,
        "correlators": prediction.correlators,
        "chsh_S": max_chsh(prediction.state_psi_plus),
        "chsh_S_with_readout": best_chsh_with_readout(prediction.state_psi_plus,
                                                      readout, readout),
        "herald_probabilities": prediction.herald_probabilities,
        "cycle_time_s": params.cycle_time,
        "parameters": {field.name: getattr(params, field.name)
                       for field in dataclasses.fields(params)},
    }


def predict_link(args: argparse.Namespace) -> int:
    params = link_parameters(args)
    result = summarise(predict(params), _readouts(args))
    if args.json:
        print_json(result)
        return 0
    c = result["correlators"]
    print(f"{params.protocol} link, world '{args.world}'")
    print(f"  eta per node      {params.eta_total_a:.4g} / {params.eta_total_b:.4g} "
          f"(fibre {params.fibre_km:g} km included)")
    print(f"  p_herald          {result['p_herald']:.6g} per attempt")
    print(f"  rate_hz           {result['rate_hz']:.6g} Hz  "
          f"(one attempt per {params.cycle_time * 1e6:.4g} µs)")
    print(f"  fidelity          {result['fidelity']:.4f}")
    print(f"  correlators       XX {c['XX']:+.4f}  YY {c['YY']:+.4f}  ZZ {c['ZZ']:+.4f}"
          "  (Psi+ frame)")
    print(f"  chsh_S            {result['chsh_S']:.4f} best case, "
          f"{result['chsh_S_with_readout']:.4f} with readout "
          f"F0={args.readout_f0}, F1={args.readout_f1}")
    return 0


def predict_sweep(args: argparse.Namespace) -> int:
    if args.steps < 2:
        raise ParameterError(f"--steps must be at least 2, got {args.steps}")
    if args.log and (args.start <= 0 or args.stop <= 0):
        raise ParameterError("--log needs positive --from and --to")
    values = (np.geomspace if args.log else np.linspace)(args.start, args.stop, args.steps)
    readout = _readouts(args)
    rows = []
    for value in values:
        result = summarise(predict(link_parameters(args, **{args.parameter: float(value)})),
                           readout)
        rows.append({args.parameter: float(value), "p_herald": result["p_herald"],
                     "rate_hz": result["rate_hz"], "fidelity": result["fidelity"],
                     "chsh_S": result["chsh_S"]})
    if args.plot is not None:
        from labctl.report.prediction_plot import plot_tradeoff

        plot_tradeoff(args.plot, args.parameter, [r[args.parameter] for r in rows],
                      [r["rate_hz"] for r in rows], [r["fidelity"] for r in rows],
                      title=f"{link_parameters(args).protocol}, world '{args.world}'")
    if args.json:
        print_json({"parameter": args.parameter, "rows": rows,
                    "plot": str(args.plot) if args.plot else None})
    else:
        headers = [args.parameter, "p_herald", "rate_hz", "fidelity", "chsh_S"]
        print(table(headers, [[r[h] for h in headers] for r in rows]))
        if args.plot is not None:
            print(f"plot written to {args.plot}")
    return 0
