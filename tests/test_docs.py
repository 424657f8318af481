"""The documentation against the code: the generated pipeline diagram, the
README's length, and sources that cite only pages inside the repository."""

import os
import re
import subprocess
import sys

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIRS = (
    "odweights",
    "components",
    "pipelines",
    "app",
    "tests",
    "benchmarks",
    "scripts",
    "kubeflow",
)
# Notes that lived outside the repository, and issue numbers, are not citable.
OUTSIDE_CITATION = re.compile(
    r"weighting\.md|od-api-contract\.md|od-api-training\.md|\.\./shared|issue #?\d", re.IGNORECASE
)
DOCS_PAGE = re.compile(r"docs/([a-z0-9-]+\.md)")


def _source_files():
    for top in SOURCE_DIRS:
        for parent, dirs, names in os.walk(os.path.join(REPO_DIR, top)):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", "work")]
            for name in names:
                if name.endswith((".py", ".sh", ".toml", ".cfg")) or "." not in name:
                    yield os.path.join(parent, name)
    for name in ("Makefile", "pyproject.toml", os.path.join(".ci", "run")):
        yield os.path.join(REPO_DIR, name)


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def test_architecture_diagram_is_the_one_generated_from_the_pipeline():
    generated = subprocess.run(
        [sys.executable, os.path.join(REPO_DIR, "scripts", "pipeline_diagram.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_DIR,
    ).stdout.strip()
    assert generated.startswith("```mermaid") and "OdExport" in generated
    page = _read(os.path.join(REPO_DIR, "docs", "architecture.md"))
    assert f"-->\n{generated}\n<!--" in page, (
        "docs/architecture.md's diagram differs from the pipeline: run "
        ".venv/bin/python scripts/pipeline_diagram.py --write docs/architecture.md"
    )


def test_readme_fits_on_a_screen():
    assert len(_read(os.path.join(REPO_DIR, "README.md")).splitlines()) <= 250


def test_sources_cite_only_pages_in_the_repository():
    outside, missing = {}, {}
    for path in sorted(set(_source_files())):
        if os.path.abspath(path) == os.path.abspath(__file__):
            continue  # this file names the patterns it looks for
        name, text = os.path.relpath(path, REPO_DIR), _read(path)
        if OUTSIDE_CITATION.findall(text):
            outside[name] = OUTSIDE_CITATION.findall(text)
        pages = {
            page
            for page in DOCS_PAGE.findall(text)
            if not os.path.exists(os.path.join(REPO_DIR, "docs", page))
        }
        if pages:
            missing[name] = sorted(pages)
    assert not outside, f"cite something outside the repository: {outside}"
    assert not missing, f"cite docs pages that do not exist: {missing}"
