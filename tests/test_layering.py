"""The layers of docs/architecture.md hold: base < components < pipelines < app.

- the base (`odweights`, without `odweights.app`) imports no component, pipeline
  or application module;
- a component (`odweights.components.<name>`) imports the base, TFX and the
  components package's shared modules, never another component, a pipeline or
  the application;
- the pipelines import components and the base, never the application.

Two checks: every import statement of every module, including those inside
functions (read from the source), and what importing the modules of each layer
(each component apart) in a clean interpreter actually pulls into sys.modules.
"""

import ast
import json
import pathlib
import subprocess
import sys
from concurrent import futures

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# Import name -> source folder, as [tool.setuptools] package-dir in pyproject.toml maps them.
SOURCE_FOLDERS = {
    "odweights": REPO / "odweights",
    "odweights.components": REPO / "components",
    "odweights.pipelines": REPO / "pipelines",
    "odweights.app": REPO / "app",
}
BASE, COMPONENTS, PIPELINES, APP = SOURCE_FOLDERS


def _module_names():
    """Every module of the four source folders, by its import name."""
    names = []
    for package, folder in SOURCE_FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if package == BASE and name.startswith(
                tuple(f"{other}." for other in SOURCE_FOLDERS if other != BASE)
            ):
                continue
            names.append(name)
    return sorted(set(names))


def _source_file(name):
    for package in sorted(SOURCE_FOLDERS, key=len, reverse=True):
        if name == package or name.startswith(package + "."):
            relative = name[len(package) + 1 :].replace(".", "/") if name != package else ""
            folder = SOURCE_FOLDERS[package] / relative
            return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
    raise AssertionError(name)


def _layer(name):
    """('base'|'shared'|'component'|'pipelines'|'app', component name or None)."""
    for prefix, layer in ((APP, "app"), (PIPELINES, "pipelines")):
        if name == prefix or name.startswith(prefix + "."):
            return layer, None
    if name == COMPONENTS or name.startswith(COMPONENTS + "."):
        parts = name.split(".")
        if len(parts) > 2 and (SOURCE_FOLDERS[COMPONENTS] / parts[2]).is_dir():
            return "component", parts[2]
        return "shared", None  # a module of the components package itself
    return "base", None


def _forbidden(importer, imported):
    """Why `importer` may not import `imported`, or None if it may."""
    if not imported.startswith("odweights"):
        return None
    layer, component = _layer(importer)
    target, target_component = _layer(imported)
    if layer in ("base", "shared") and target in ("component", "pipelines", "app"):
        return f"the {layer} layer imports {target} module {imported}"
    if layer == "component" and target in ("pipelines", "app"):
        return f"component {component} imports {target} module {imported}"
    if layer == "component" and target == "component" and target_component != component:
        return f"component {component} imports component {target_component} ({imported})"
    if layer == "pipelines" and target == "app":
        return f"a pipeline module imports application module {imported}"
    return None


def _imported_names(path):
    """Every module an import statement in the file names, wherever it stands."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from odweights.components import x` imports the module odweights.components.x
            names.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _is_module(f"{node.module}.{alias.name}")
            )
    return names


def _is_module(name):
    try:
        return _source_file(name).exists()
    except AssertionError:
        return False


MODULES = _module_names()


def test_the_layout_has_every_layer():
    layers = {_layer(name)[0] for name in MODULES}
    assert layers == {"base", "shared", "component", "pipelines", "app"}
    assert {_layer(name)[1] for name in MODULES} >= {
        "voc_example_gen",
        "weight_gen",
        "od_schema_gen",
        "weighted_transform",
        "od_export",
    }


def test_the_rules_reject_what_they_should():
    """The rules themselves, so that the checks below cannot pass vacuously."""
    assert _forbidden("odweights.fileio", "odweights.components.od_export.sharding")
    assert _forbidden("odweights.fileio", "odweights.pipelines.options")
    assert _forbidden("odweights.components.tfx_executors", "odweights.components.weight_gen")
    assert _forbidden(
        "odweights.components.od_export.executor", "odweights.components.weight_gen.weighting"
    )
    assert _forbidden("odweights.components.od_export.executor", "odweights.app.cli")
    assert _forbidden("odweights.pipelines.local_runner", "odweights.app.report.writer")
    assert not _forbidden(
        "odweights.components.od_export.executor", "odweights.components.od_export.sharding"
    )
    assert not _forbidden("odweights.components.od_export.executor", "odweights.fileio")
    assert not _forbidden("odweights.pipelines.pipeline", "odweights.components.tfx_executors")
    assert not _forbidden("odweights.app.cli", "odweights.pipelines.local_runner")


@pytest.mark.parametrize("name", MODULES)
def test_import_statements_respect_the_layers(name):
    problems = sorted(
        filter(
            None, (_forbidden(name, imported) for imported in _imported_names(_source_file(name)))
        )
    )
    assert not problems, f"{name}: " + "; ".join(problems)


_LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(name for name in sys.modules if name.startswith("odweights"))))
"""

# The rules depend only on a module's layer and component, so one clean
# interpreter per such unit (the base, the components package's shared modules,
# each component, the pipelines) imports all of the unit's modules; the
# application may import everything. One interpreter per module would cost a
# TensorFlow import each, minutes in all on 2 cores.
UNITS = sorted(
    {_layer(name) for name in MODULES if _layer(name)[0] != "app"},
    key=lambda unit: (unit[0], unit[1] or ""),
)


def _unit_id(unit):
    return unit[1] or unit[0]


@pytest.fixture(scope="module")
def loaded_modules():
    """For each unit: the odweights modules that importing its modules, alone, loads."""

    def load(unit):
        names = [name for name in MODULES if _layer(name) == unit]
        completed = subprocess.run(
            [sys.executable, "-c", _LOADED, *names],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, f"import {names} failed:\n{completed.stderr[-3000:]}"
        return unit, (names[0], json.loads(completed.stdout.strip().splitlines()[-1]))

    with futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(load, UNITS))


@pytest.mark.parametrize("unit", UNITS, ids=_unit_id)
def test_importing_a_unit_loads_only_lower_layers(unit, loaded_modules):
    importer, loaded = loaded_modules[unit]
    problems = sorted(filter(None, (_forbidden(importer, name) for name in loaded)))
    assert not problems, f"import of the {_unit_id(unit)} modules: " + "; ".join(problems)
