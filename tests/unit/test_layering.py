"""The layout's promises that import contracts cannot see: names, not imports.

- experiments use instruments only through capabilities: no vendor's parameter,
  channel, command or model name appears in ``experiments/``;
- labctl names no plugin: no registered experiment, battery or plan, no driver
  class and no vendor parameter name appears in a string in ``labctl/``.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Makers and models of the drivers in ``drivers/`` (and their common spellings).
VENDORS = re.compile(
    r"IDQ|ID\s?Quantique|ID1000|ID900|Tektronix|AWG50\d\d|SGS100|Rohde|R&S|Santec|TSL-?57|"
    r"New\s?Focus|TLB-?67|Quantum\s?Opus|AmpSim|Swabian|Time\s?Tagger\s?(Ultra|X|20)|"
    r"ITC4\d\d\d|Thorlabs", re.IGNORECASE)
#: A vendor's numbered channel or block (``ch1``, ``input3``, ``tsco1``, ``DELA3``).
NUMBERED = re.compile(r"^(ch|input|tsco|hist|dela|inpu|raw|sour|outp)\d+", re.IGNORECASE)
#: SCPI command text (``INPU3:DELA``, ``AWGC:RUN``, ``*IDN?``).
SCPI = re.compile(r"^[*:]?[A-Z]{3,}[0-9]*(:[A-Z]{3,}[0-9]*)+\??(\s|$)|^\*[A-Z]{3}\??$")


def _python_files(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _code_names(path: Path) -> Iterator[tuple[int, str]]:
    """Attribute names and string constants in code (docstrings and comments excluded)."""
    tree = ast.parse(path.read_text())
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings:
            yield node.lineno, node.value


def _defined_names(folder: str, skip_adapters: bool = False,
                   arguments: bool = False) -> set[str]:
    """Parameter, submodule, method, field and constant names a folder defines
    (and with ``arguments`` the names of function arguments)."""
    names: set[str] = set()
    for path in _python_files(folder):
        for node in ast.walk(ast.parse(path.read_text())):
            if arguments and isinstance(node, ast.arg):
                names.add(node.arg)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                    isinstance(node.value.value, str) and all(
                        isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
                names.add(node.value.value)   # a convention labctl declares by name
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                    "add_parameter", "add_submodule", "add_function") and node.args and \
                    isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value,
                                                                           str):
                names.add(node.args[0].value)
            if isinstance(node, ast.ClassDef):
                bases = " ".join(ast.unparse(b) for b in node.bases)
                if skip_adapters and ("Adapter" in bases or not any(
                        word in bases for word in ("Instrument", "Channel", "Mixin"))):
                    continue   # a driver's API is its instrument and channel classes
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
            elif isinstance(node, ast.FunctionDef):
                names.add(node.name)
    return {n for n in names if not n.startswith("_")}


def _adapted_names() -> set[str]:
    """What adapters call on the instrument they wrap (``self.instrument.IQ_state``)."""
    names = set()
    for path in _python_files("drivers"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and \
                    node.value.attr == "instrument":
                names.add(node.attr)
    return names


def vendor_names(arguments: bool = False) -> set[str]:
    """What only drivers define or call: their parameters, channels, methods; not labctl's
    API (nor, with ``arguments``, the names of labctl's function arguments)."""
    return (_defined_names("drivers", skip_adapters=True) | _adapted_names()) - \
        _defined_names("labctl", arguments=arguments)


def test_the_vendor_name_list_is_not_empty():
    names = vendor_names()
    # the check below means something only if drivers define names labctl does not
    for expected in ("bias_current", "timetag_link", "configure_window", "IQ_state",
                     "pump_power", "upload_waveform"):
        assert expected in names


def test_experiments_name_no_vendor_parameter_channel_command_or_model():
    vendor = vendor_names() - _defined_names("experiments")   # their own names are theirs
    found = []
    for path in _python_files("experiments"):
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), start=1):
            if VENDORS.search(line):
                found.append(f"{path.name}:{number}: vendor or model name: {line.strip()}")
        for number, name in _code_names(path):
            if name in vendor:
                found.append(f"{path.name}:{number}: driver name {name!r}")
            elif NUMBERED.match(name) or SCPI.match(name):
                found.append(f"{path.name}:{number}: instrument channel or command {name!r}")
    assert not found, "\n".join(found)


def _registered_names() -> set[str]:
    """Experiments by name, and every plugin's module (``experiments.hom``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names: set[str] = set(project["entry-points"]["labctl.experiments"])
    for group, entries in project["entry-points"].items():
        if group.startswith("labctl."):
            names.update(value.split(":")[0] for value in entries.values())
    return names


def _driver_classes() -> set[str]:
    classes = set()
    for path in _python_files("drivers"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                classes.add(node.name)
                classes.add(f"drivers.{path.stem}.{node.name}")
    return classes


def _specific(names: set[str]) -> set[str]:
    """Compound identifiers (``bias_current``, ``IQ_state``), not plain words (``data``)."""
    return {n for n in names if "_" in n.strip("_") or any(c.isdigit() for c in n)}


def test_labctl_names_no_plugin_driver_or_vendor_parameter():
    forbidden = _registered_names() | _driver_classes() | _specific(vendor_names(arguments=True))
    found = []
    for path in _python_files("labctl"):
        tree = ast.parse(path.read_text())
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    id(node) not in docstrings:
                words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", node.value))
                hits = sorted(words & forbidden)
                if hits or VENDORS.search(node.value):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                                 f"{hits or node.value!r}")
    assert not found, "\n".join(found)


def test_a_vendor_name_in_an_experiment_would_be_caught(tmp_path):
    """The checks recognise the names they are meant to refuse."""
    vendor = vendor_names()
    samples = ['tagger.input3.delay_ps()', 'tsco1.configure_window(first="DELA3")',
               'snspd.ch1.bias_current(1e-5)', 'awg.write("AWGC:RUN")']
    for sample in samples:
        tree = ast.parse(sample)
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
            n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}
        assert any(n in vendor or NUMBERED.match(n) or SCPI.match(n) for n in names), sample


def _code_lines(path: Path) -> int:
    """Lines of code: not blank, not comments, not docstrings."""
    tree = ast.parse(path.read_text())
    docstring_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str):
            docstring_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return sum(1 for number, line in enumerate(path.read_text().splitlines(), start=1)
               if line.strip() and not line.strip().startswith("#")
               and number not in docstring_lines)


def test_the_docs_show_a_whole_experiment_of_at_most_thirty_lines_of_code():
    example = ROOT / "experiments" / "dark_counts.py"
    assert _code_lines(example) <= 30, _code_lines(example)
    docs = (ROOT / "docs" / "extending.md").read_text()
    assert example.read_text() in docs, "docs/extending.md must show the file as it is"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["labctl.experiments"]["dark_counts"] == \
        "experiments.dark_counts:DarkCounts"
