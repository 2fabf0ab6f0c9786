"""``labctl predict link|sweep``: what the physics model expects of a link.

Link options default to the NV-like 2 m link of Humphreys et al. (2018)
(`labctl.physics.presets`); ``--world`` starts from another named set. The
fibre attenuates at the wavelength that travels it (``--wavelength-nm``,
default the world's: 637 nm unconverted, 1588 nm after conversion) unless
``--fibre-loss-db-km`` says otherwise.

``predict link --station S --profile P --experiment NAME --set k=v`` predicts
the link a run of that experiment will see: a private copy of the station's
simulated lab is started, the experiment's own ``prepare`` sets its
instruments up, and the simulator reports the link its world then realises
(`labctl.simulation.simulated_link`: the same physics its emulators sample
from), which `labctl.physics.link.predict` turns into herald rate, F, the
correlators and — for a run whose readout bases are chosen per trial — S at
the run's own settings with the world's readout. A lab profile (no simulator)
cannot be predicted: its η, noise and visibility are measured, not stated.
`warn_unless_violation` is the warning a Bell test logs before its first
block when its predicted S does not exceed 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labctl import station as station_module
from labctl.commands.output import print_json, table
from labctl.engine.experiment import RunContext, config_to_dict, parse_settings
from labctl.engine.registry import find_experiment
from labctl.errors import LabctlError, ParameterError
from labctl.physics.bell import (
    best_chsh_with_readout,
    correlator_from_probabilities,
    max_chsh,
    outcome_probabilities,
)
from labctl.physics.emitter import Readout
from labctl.physics.link import PROTOCOLS, LinkParameters, LinkPrediction, predict
from labctl.physics.optics import fibre_loss_db_per_km
from labctl.physics.presets import PRESETS, preset, wavelength
from labctl.simulation import SimulatedLink, joining, simulated_link
from labctl.station import LabStation

log = logging.getLogger(__name__)

#: The world ``--world`` starts from when not given.
DEFAULT_WORLD = "nv-short"

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
    link.add_argument("--world", choices=sorted(PRESETS),
                      help=f"named parameter set to start from (default: {DEFAULT_WORLD})")
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
    link.add_argument("--wavelength-nm", type=float,
                      help="wavelength travelling the fibre, nm: sets the fibre loss (default: "
                           "the world's, 637 nm unconverted or 1588 nm converted)")
    link.add_argument("--fibre-loss-db-km", type=float,
                      help="fibre attenuation, dB/km (default: the loss at the wavelength)")
    link.add_argument("--no-wait", action="store_true",
                      help="do not wait for the herald between attempts")
    link.add_argument("--readout-f0", type=float,
                      help=f"spin readout fidelity of the bright state (default: "
                           f"{Readout().f0}, Humphreys et al. 2018)")
    link.add_argument("--readout-f1", type=float,
                      help=f"spin readout fidelity of the dark state (default: "
                           f"{Readout().f1}, Humphreys et al. 2018)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def register(commands: argparse._SubParsersAction[Any]) -> None:
    command = commands.add_parser("predict", help="predict what a link will do")
    predictions = command.add_subparsers(dest="predict_command", required=True,
                                         metavar="SUBCOMMAND")
    link = predictions.add_parser(
        "link", help="herald probability, rate, fidelity, correlators and CHSH S of a link")
    _add_link_options(link)
    _add_station_options(link)
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


def _add_station_options(parser: argparse.ArgumentParser) -> None:
    station = parser.add_argument_group(
        "the link of a station (instead of the link parameters above)")
    station.add_argument("--station", type=Path,
                         help="predict the link a run on this station file's simulated "
                              "profile will see")
    station.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                         help="station profile (default: %(default)s)")
    station.add_argument("--experiment",
                         help="the experiment whose run to predict (with --station; "
                              "see 'labctl experiments')")
    station.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         dest="settings",
                         help="a config value of the experiment, as for 'labctl run'; "
                              "repeatable")


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
    if args.wavelength_nm is not None and "fibre_loss_db_per_km" not in changes:
        try:
            changes["fibre_loss_db_per_km"] = fibre_loss_db_per_km(args.wavelength_nm * 1e-9)
        except ValueError:
            raise ParameterError(f"--wavelength-nm must be positive, got "
                                 f"{args.wavelength_nm}") from None
    try:
        return dataclasses.replace(preset(_world(args)), **changes)
    except ValueError as error:
        raise ParameterError(_option_names(str(error))) from None


def _world(args: argparse.Namespace) -> str:
    return str(args.world or DEFAULT_WORLD)


def _wavelength_nm(args: argparse.Namespace) -> float:
    """The wavelength travelling the fibre, nm (given, else the world's)."""
    if args.wavelength_nm is not None:
        return float(args.wavelength_nm)
    return wavelength(_world(args)) * 1e9


def _option_names(message: str) -> str:
    """Speak of command-line options, not dataclass fields, in error messages."""
    for option, (field, _) in _LINK_OPTIONS.items():
        if message.startswith(f"{field} "):
            return f"--{option.replace('_', '-')}" + message[len(field):]
    return message


def _readouts(args: argparse.Namespace) -> Readout:
    default = Readout()
    f0 = default.f0 if args.readout_f0 is None else args.readout_f0
    f1 = default.f1 if args.readout_f1 is None else args.readout_f1
    try:
        return Readout(f0, f1)
    except ValueError as error:
        raise ParameterError(str(error).replace("readout f", "--readout-f")) from None


def summarise(prediction: LinkPrediction, readout: Readout,
              readout_b: Readout | None = None) -> dict[str, Any]:
    """The keys ``predict link --json`` prints (``readout`` for node A, and for B unless
    ``readout_b`` is given)."""
    params = prediction.params
    readout_b = readout if readout_b is None else readout_b
    return {
        "protocol": params.protocol,
        "p_herald": prediction.p_herald,
        "rate_hz": prediction.rate_hz,
        "fidelity": prediction.fidelity,
        "correlators": prediction.correlators,
        "chsh_S": max_chsh(prediction.state_psi_plus),
        "chsh_S_with_readout": best_chsh_with_readout(prediction.state_psi_plus,
                                                      readout, readout_b),
        "herald_probabilities": prediction.herald_probabilities,
        "cycle_time_s": params.cycle_time,
        "parameters": {field.name: getattr(params, field.name)
                       for field in dataclasses.fields(params)},
    }


def predict_link(args: argparse.Namespace) -> int:
    if args.station is not None:
        return _predict_station_link(args)
    if args.experiment is not None or args.settings:
        raise ParameterError("--experiment and --set need --station (the station whose "
                             "run to predict)")
    params = link_parameters(args)
    readout = _readouts(args)
    result = summarise(predict(params), readout)
    if args.json:
        print_json(result)
        return 0
    c = result["correlators"]
    print(f"{params.protocol} link, world '{_world(args)}'")
    print(f"  eta per node      {params.eta_total_a:.4g} / {params.eta_total_b:.4g} "
          f"(fibre {params.fibre_km:g} km at {params.fibre_loss_db_per_km:g} dB/km "
          f"included{_at_wavelength(args)})")
    print(f"  p_herald          {result['p_herald']:.6g} per attempt")
    print(f"  rate_hz           {result['rate_hz']:.6g} Hz  "
          f"(one attempt per {params.cycle_time * 1e6:.4g} µs)")
    print(f"  fidelity          {result['fidelity']:.4f}")
    print(f"  correlators       XX {c['XX']:+.4f}  YY {c['YY']:+.4f}  ZZ {c['ZZ']:+.4f}"
          "  (Psi+ frame)")
    print(f"  chsh_S            {result['chsh_S']:.4f} best case, "
          f"{result['chsh_S_with_readout']:.4f} with readout "
          f"F0={readout.f0}, F1={readout.f1}")
    return 0


def _at_wavelength(args: argparse.Namespace) -> str:
    if args.fibre_loss_db_km is not None:
        return ""
    return f", the loss at {_wavelength_nm(args):g} nm"


# --- the link of a station ---------------------------------------------------------

#: ``predict link`` options that describe a link by hand: with ``--station`` the world
#: and the experiment's settings decide them instead.
_HAND_OPTIONS = ("world", "protocol", "alpha", "eta", *_LINK_OPTIONS, "wavelength_nm",
                 "readout_f0", "readout_f1")


def station_link(station_path: str | Path, profile: str, experiment_name: str,
                 settings: Sequence[str] = ()) -> tuple[SimulatedLink, Any]:
    """The link a run of ``experiment_name`` (with ``settings``) on ``profile`` will see,
    and the experiment's config.

    Everything is checked before anything starts (`ParameterError`, `StationError`).
    A private copy of the profile's simulated lab is served (never a lab another
    process serves: predicting must not touch a running experiment), the
    experiment's ``prepare`` sets the instruments up, the simulator reports the link
    (`simulated_link`), and the instruments go to their safe state.
    """
    experiment_type = find_experiment(experiment_name)
    experiment = experiment_type(parse_settings(experiment_type.config_type, settings))
    spec = station_module.read_spec(station_path, profile)
    experiment.check_station(spec)
    where = f"{spec.path} profile '{spec.profile}'"
    if spec.simulator is None:
        raise ParameterError(
            f"{where} names no simulator: a lab's η, noise and visibility are measured, not "
            "stated in its station file, so its link cannot be predicted; predict from "
            "measured values with 'labctl predict link --eta ... --dark-count-rate ...', "
            "or use a simulated profile")
    remote = [s.name for s in spec.instruments if s.remote is not None]
    if remote:
        raise ParameterError(f"{where}: {', '.join(remote)} are served by remote nodes, whose "
                             "worlds this process cannot read; predict on a local profile")
    simulator = spec.simulator
    spec = dataclasses.replace(spec, join=False)
    with joining(False):
        station = station_module.open_station(spec)
    try:
        for instrument in station.spec.instruments:
            station_module.connect_instrument(station, instrument)
        experiment.prepare(RunContext(station=station, run_id=0,
                                      rng=np.random.default_rng(0)))
        assert station.simulation is not None
        link = simulated_link(simulator, station.simulation)
    finally:
        try:
            station.safe_state_all()
        finally:
            station.close()
    if link is None:
        raise LabctlError(f"{experiment_name} on {where} sets up no attempt of a link: "
                          "there is no link to predict")
    return link, experiment.config


def bell_prediction(link: SimulatedLink) -> dict[str, Any] | None:
    """S and the raw correlators E_xy at the run's own per-trial settings, with the
    world's readout (None unless the readout bases are chosen per trial)."""
    if link.directions is None or not link.random_settings:
        return None
    state = predict(link.params).state_psi_plus
    settings_a, settings_b = link.directions
    correlators = {
        f"E{x}{y}": correlator_from_probabilities(outcome_probabilities(
            state, settings_a[x], settings_b[y], link.readout_a, link.readout_b))
        for x in (0, 1) for y in (0, 1)}
    s = correlators["E00"] + correlators["E01"] + correlators["E10"] - correlators["E11"]
    return {"S": s, "correlators": correlators}


def violation_warning(link: SimulatedLink) -> str | None:
    """Why a Bell test on ``link`` cannot violate CHSH, or None when its predicted S
    (at its settings with readout, else at the best settings) exceeds 2."""
    prediction = predict(link.params)
    bell = bell_prediction(link)
    s_max = max_chsh(prediction.state_psi_plus)
    if bell is not None:
        s, how = bell["S"], "at this run's settings with the world's readout"
    else:
        s = best_chsh_with_readout(prediction.state_psi_plus, link.readout_a, link.readout_b)
        how = "at the best settings with the world's readout"
    if s > 2.0:
        return None
    p = link.params
    return (f"predicted S {s:.3f} ≤ 2 {how} (S_max {s_max:.3f} for any settings with "
            f"perfect readout): η {p.eta_total_a:.2g} / {p.eta_total_b:.2g} per node, "
            f"{p.dark_count_rate:.0f} Hz of dark counts and noise per detector, "
            f"α {p.bright_populations[0]:.3g}, V {p.visibility:.3g}, "
            f"σ_φ {math.degrees(p.phase_noise):.0f}° (F {prediction.fidelity:.3f}): "
            "a Bell test on this link cannot violate CHSH")


def warn_unless_violation(station: LabStation) -> str | None:
    """Log a WARNING (and return it) when the link the simulated ``station`` is set up
    for cannot violate CHSH; None in the lab or when it can (call it after the
    instruments are set up, before the first block)."""
    if station.spec.simulator is None or station.simulation is None:
        return None
    link = simulated_link(station.spec.simulator, station.simulation)
    warning = None if link is None else violation_warning(link)
    if warning is not None:
        log.warning("%s", warning)
    return warning


def _predict_station_link(args: argparse.Namespace) -> int:
    given = [name for name in _HAND_OPTIONS
             if getattr(args, name, None) not in (None, False)] + (
        ["no_wait"] if args.no_wait else [])
    if given:
        option = "--" + given[0].replace("_", "-")
        raise ParameterError(f"{option} cannot be used with --station: the station's world "
                             "and the experiment's settings (--set) decide the link")
    if args.experiment is None:   # labctl names no experiment: the user says which run
        raise ParameterError("--station needs --experiment NAME: the run whose link to "
                             "predict (see 'labctl experiments')")
    name = args.experiment
    link, config = station_link(args.station, args.profile, name, args.settings)
    prediction = predict(link.params)
    result = summarise(prediction, link.readout_a, link.readout_b)
    bell = bell_prediction(link)
    warning = violation_warning(link)
    result.update({"station": str(args.station), "profile": args.profile, "experiment": name,
                   "settings": config_to_dict(config),
                   "readout": {"f0_a": link.readout_a.f0, "f1_a": link.readout_a.f1,
                               "f0_b": link.readout_b.f0, "f1_b": link.readout_b.f1},
                   "bell": bell, "warnings": [warning] if warning else []})
    if args.json:
        print_json(result)
        return 0
    params = link.params
    c = result["correlators"]
    print(f"{params.protocol} link of {args.station} profile '{args.profile}' as "
          f"'{name}' sets it up")
    print(f"  eta per node      {params.eta_total_a:.4g} / {params.eta_total_b:.4g}")
    print(f"  dark + noise      {params.dark_count_rate:.4g} Hz per detector")
    print(f"  p_herald          {result['p_herald']:.6g} per attempt")
    print(f"  rate_hz           {result['rate_hz']:.6g} Hz  "
          f"(one attempt per {params.cycle_time * 1e6:.4g} µs)")
    print(f"  fidelity          {result['fidelity']:.4f}")
    print(f"  correlators       XX {c['XX']:+.4f}  YY {c['YY']:+.4f}  ZZ {c['ZZ']:+.4f}"
          "  (Psi+ frame, readout corrected)")
    print(f"  chsh_S            {result['chsh_S']:.4f} best case, "
          f"{result['chsh_S_with_readout']:.4f} with the world's readout")
    if bell is not None:
        print(f"  bell_S            {bell['S']:.4f} at the run's settings, raw readout")
    if warning:
        print(f"  warning           {warning}")
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
                      title=f"{link_parameters(args).protocol}, world '{_world(args)}'")
    if args.json:
        print_json({"parameter": args.parameter, "rows": rows,
                    "plot": str(args.plot) if args.plot else None})
    else:
        headers = [args.parameter, "p_herald", "rate_hz", "fidelity", "chsh_S"]
        print(table(headers, [[r[h] for h in headers] for r in rows]))
        if args.plot is not None:
            print(f"plot written to {args.plot}")
    return 0
