"""Imports point one way: config <- jobs <- annotate <- training <- demo <- frontend; training/ddpo,
training/generation.py and synthetic are pure libraries (no Django, no platform app) that any layer may use."""
import ast

from tests.conftest import ROOT

LAYERS = ["config", "jobs", "annotate", "training", "demo", "frontend"]
PURE = ["training.ddpo", "training.generation", "synthetic"]
WEB_FRAMEWORKS = ["django", "rest_framework", "celery", "kombu", "drf_spectacular"]


def _package(name: str) -> str:
    """The layer or pure library a dotted module name belongs to ('' for third-party code)."""
    for pure in PURE:
        if name == pure or name.startswith(pure + "."):
            return pure
    top = name.split(".")[0]
    return top if top in LAYERS else ""


def _imported(tree: ast.AST):
    for node in ast.walk(tree):  # function-level imports count too
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def import_violations(module: str, source: str) -> list[str]:
    """What ``source`` (the text of dotted ``module``) imports against the direction."""
    own = _package(module)
    problems = []
    for line, name in _imported(ast.parse(source)):
        target = _package(name)
        if own in PURE:
            if target in LAYERS or name.split(".")[0] in WEB_FRAMEWORKS:
                problems.append(f"{module}:{line} imports {name} (a pure library imports no platform code)")
        elif target in LAYERS and LAYERS.index(target) > LAYERS.index(own):
            problems.append(f"{module}:{line} imports {name} ({target} sits above {own})")
    return problems


def _tree_modules():
    for package in LAYERS + ["synthetic"]:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).with_suffix("")
            yield ".".join(relative.parts), path


def test_the_tree_imports_one_way():
    """No module of the platform imports a layer above its own; the pure libraries import no Django."""
    problems = [p for module, path in _tree_modules() for p in import_violations(module, path.read_text())]
    assert problems == []


def test_every_app_has_a_layer():
    """A new top-level app must be placed in LAYERS, or its imports would go unchecked."""
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps <= set(LAYERS)


def test_a_reverse_import_is_caught():
    """The check fails on imports against the direction, at module or function level."""
    assert import_violations("annotate.models", "from training.models import TrainingRun\n")
    assert import_violations("jobs.services", "def f():\n    import annotate.models\n")
    assert import_violations("training.services", "from demo.services import BOOTSTRAP_TASK\n")
    assert import_violations("training.ddpo.trainer", "from django.db import models\n")
    assert import_violations("synthetic.evaluate", "from training.services import generate\n")
    assert not import_violations("demo.services", "from training.services import training_run_work\n")
    assert not import_violations("annotate.services.records", "from training.ddpo.alignment import apply_segments\n")
    assert not import_violations("synthetic.evaluate", "from training.generation import generate\n")
    assert import_violations("training.generation", "from training.models import ModelCheckpoint\n")
