"""The docs match the code: what a newcomer copies from README.md and docs/*.md works.

Cheap, automatic checks of what drifted before: every ``sagacore COMMAND --flag`` shown
is a flag the command's parser knows, every ``sagacore.x.y`` name resolves, every path
into the repository and every relative link exists, and the regime table of
docs/sweeps.md is :data:`sagacore.sweep.REGIMES`. docs/results.md is left out: ``sagacore
reproduce`` writes it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sagacore.cli import build_parser
from sagacore.sim.config import get_cluster
from sagacore.sweep import REGIMES
from sagacore.workload.generators import GENERATORS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md",
        *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "results.md"),
        *sorted((ROOT / "docs/proofs").glob("*.md")), ROOT / "proofs/README.md",
        ROOT / "integrations/vllm/README.md"]

#: Paths that docs name on purpose although they are not in this repository.
ABSENT_ON_PURPOSE = {
    "benchmarks/benchmark_latency.py",  # vLLM's own benchmark script (docs/cost-model.md)
    "docs/source/performance.md",  # a page of vLLM's docs
    # the H200 profiles docs/cost-model.md says are still to be measured on a GPU
    "sagacore/data/profiles/h200",
    "sagacore/data/profiles/h200-llama-3-8b-tp1.json",
    "sagacore/data/profiles/h200-llama-3-70b-tp4.json",
    "docs/results-files/sweep/REGIME/peaks.jsonl",  # a pattern, REGIME a placeholder
}


def _where(path: Path, text: str, pos: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, pos) + 1}"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


# ``sagacore COMMAND ...`` up to the end of the line (a trailing backslash continues it),
# a closing backquote or a table cell's bar; a ``#`` starts a comment.
_COMMAND = re.compile(r"(?<![\w/.-])sagacore ([a-z][\w-]*)((?:[^\n`|]|\\\n)*)")
_FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def test_every_flag_shown_with_a_command_is_one_its_parser_knows() -> None:
    commands = _subcommands(build_parser())
    bad, seen = [], 0
    for path in DOCS:
        text = path.read_text()
        for m in _COMMAND.finditer(text):
            parser = commands.get(m.group(1))
            if parser is None:  # prose: "sagacore makes", "sagacore stack"
                continue
            rest = m.group(2).split("#")[0]
            words = rest.split()
            nested = _subcommands(parser)
            if words and words[0] in nested:
                parser = nested[words[0]]
            known = _options(parser)
            for flag in _FLAG.findall(rest):
                seen += 1
                if flag not in known:
                    bad.append(f"{_where(path, text, m.start())}: {parser.prog} {flag}")
    assert seen > 100  # the pattern still finds the commands
    assert not bad, "flags the CLI does not know:\n" + "\n".join(bad)


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_sagacore_name_resolves() -> None:
    bad, seen = [], set()
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"(?<![\w/.-])(sagacore(?:\.[A-Za-z_]\w*)+)", text):
            name = m.group(1)
            if name.endswith((".py", ".md", ".json")) or name in seen:
                continue
            seen.add(name)
            if not _resolves(name):
                bad.append(f"{_where(path, text, m.start())}: {name}")
    assert len(seen) > 50
    assert not bad, "names that do not resolve:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_paths_and_links_exist(path: Path) -> None:
    text = path.read_text()
    bad = []
    pattern = r"(?<![\w/.-])((?:sagacore|tests|benchmarks|proofs|docs|integrations|\.ci)/[\w./-]*\w)"
    for m in re.finditer(pattern, text):
        p = m.group(1)
        if p in ABSENT_ON_PURPOSE or p.endswith("/test_sim") or ".workloads" in p:
            continue  # tests/test_sim*.py; a module's attribute named by its path
        if not ((ROOT / p).exists() or (path.parent / p).exists()
                or (ROOT / "integrations/vllm" / p).exists()):
            bad.append(f"{_where(path, text, m.start())}: {p}")
    for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        target = m.group(1)
        if not target.startswith("http") and not (path.parent / target).exists():
            bad.append(f"{_where(path, text, m.start())}: link {target}")
    assert not bad, "missing:\n" + "\n".join(bad)


def test_the_regime_table_is_regimes() -> None:
    text = (ROOT / "docs/sweeps.md").read_text()
    rows = re.findall(r"^\| `([\w-]+)` \| [^|]+ \| ([^|]+) \| (\d+) \|", text, re.M)
    assert {name for name, _, _ in rows} == set(REGIMES)
    for name, cluster, tasks in rows:
        regime = REGIMES[name]
        expected = regime.tasks if regime.tasks is not None else 198  # the bundled trace
        assert int(tasks) == expected, (name, tasks, regime.tasks)
        gpus = get_cluster(regime.cluster)
        assert cluster.startswith(f"{gpus.instances * gpus.cost.tp} A100"), (name, cluster)


def test_the_readme_names_every_generator() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"sagacore generate ([\w|-]+) ", text)
    assert m is not None
    assert set(m.group(1).split("|")) == set(GENERATORS)


def _python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"```python\n(.*?)```", text, re.S):
            code = m.group(1)
            if not re.search(r"^\s*(from|import) ", code, re.M):
                continue  # a signature shown, not a program (proofs/README.md)
            if re.search(r"^\s*(from|import) (openai|sagacore_vllm)\b", code, re.M):
                continue  # the vLLM plug-in's examples: its own environment and tests
            blocks.append((_where(path, text, m.start()), code))
    return blocks


@pytest.mark.parametrize(("where", "code"), _python_blocks(), ids=lambda x: x if ":" in x else "")
def test_python_blocks_run(where: str, code: str, tmp_path: Path) -> None:
    # a block that reads "trace.csv" (docs/generators.md) gets the bundled trace
    (tmp_path / "trace.csv").write_bytes((ROOT / "sagacore/data/mini-swe-agent/steps.csv")
                                         .read_bytes())
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, f"{where}:\n{r.stderr[-2000:]}"


def test_every_flag_shown_with_a_benchmark_script_is_one_it_defines() -> None:
    bad, seen = [], 0
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"benchmarks/(\w+\.py)((?:[^\n`|;)]|\\\n)*)", text):
            script = ROOT / "benchmarks" / m.group(1)
            if str(script.relative_to(ROOT)) in ABSENT_ON_PURPOSE:
                continue
            assert script.exists(), f"{_where(path, text, m.start())}: {script}"
            defined = set(re.findall(r"[\"'](--[\w-]+)[\"']", script.read_text()))
            for flag in _FLAG.findall(m.group(2).split("#")[0]):
                if flag.startswith("--"):
                    seen += 1
                    if flag not in defined:
                        bad.append(f"{_where(path, text, m.start())}: {m.group(1)} {flag}")
    assert seen > 20
    assert not bad, "flags the scripts do not define:\n" + "\n".join(bad)


def test_every_test_named_in_the_docs_exists() -> None:
    sources = [*(ROOT / "tests").glob("*.py"), *(ROOT / "integrations/vllm/tests").glob("*.py"),
               *(ROOT / "proofs").rglob("*.py")]
    defined = set(re.findall(r"def (test_\w+)", " ".join(p.read_text() for p in sources)))
    defined |= {p.stem for p in sources}  # a test module named by its path
    bad = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"\b(test_[a-z0-9_]+)\b(?!\.py)", text):
            name = m.group(1)
            if name == "test_my_scheduler_keeps_fair_share":  # the reader's own test
                continue
            if not any(d.startswith(name) for d in defined):  # a prefix names a family
                bad.append(f"{_where(path, text, m.start())}: {name}")
    assert not bad, "tests the docs name that do not exist:\n" + "\n".join(bad)


_VLLM_FLAGS = """
import argparse, json, sys
from sagacore_vllm.cli import build_parser
def subs(p):
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices
    return {}
print(json.dumps({name: sorted(o for a in p._actions for o in a.option_strings)
                  for name, p in subs(build_parser()).items()}))
"""


def test_every_flag_shown_with_sagacore_vllm_is_one_its_parser_knows() -> None:
    # the vLLM integration's parser, read in a child process (its package is not installed
    # in the core environment; building the parser imports no vllm)
    r = subprocess.run([sys.executable, "-c", _VLLM_FLAGS], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                           [str(ROOT / "integrations/vllm"), str(ROOT)])})
    if r.returncode != 0:
        pytest.skip(f"sagacore_vllm.cli does not import here: {r.stderr.strip()[-200:]}")
    known: dict[str, list[str]] = json.loads(r.stdout)
    bad, seen = [], 0
    for path in dict.fromkeys([*DOCS, *sorted((ROOT / "integrations/vllm").glob("*.md"))]):
        text = path.read_text()
        for m in re.finditer(r"sagacore-vllm ([a-z][\w-]*)((?:[^\n`|]|\\\n)*)", text):
            if m.group(1) not in known:
                bad.append(f"{_where(path, text, m.start())}: no command {m.group(1)}")
                continue
            for flag in _FLAG.findall(m.group(2).split("#")[0]):
                seen += 1
                if flag not in known[m.group(1)]:
                    bad.append(f"{_where(path, text, m.start())}: {m.group(1)} {flag}")
    assert seen > 20
    assert not bad, "flags sagacore-vllm does not know:\n" + "\n".join(bad)


def test_every_name_given_to_a_flag_is_known() -> None:
    """Stacks, regimes, cache policies, workloads and clusters named on command lines."""
    from sagacore.cache import CACHE_POLICIES
    from sagacore.errors import SagacoreError
    from sagacore.stacks import STACKS
    from sagacore.workload.load import DEFAULT_WORKLOAD

    def known(flag: str, value: str) -> bool:
        if flag in ("--stack", "--reference", "--peak-of"):
            return value in STACKS or value.startswith("ideal:")
        if flag == "--regime":
            return value in REGIMES
        if flag in ("--policy", "--policies"):
            return value in CACHE_POLICIES
        if flag == "--workload":  # else a path
            return value in GENERATORS or value == DEFAULT_WORKLOAD or "/" in value or "." in value
        try:
            get_cluster(value)
        except SagacoreError:
            return False
        return True

    bad, seen = [], 0
    flags = r"(--stack|--reference|--peak-of|--regime|--policy|--policies|--workload|--cluster)"
    for path in DOCS:
        text = path.read_text()
        for m in _COMMAND.finditer(text):
            rest = m.group(2).split("#")[0]
            for flag, value in re.findall(flags + r"[ =]([^\s\[\]()`'\"]+)", rest):
                for v in value.split(",") if flag == "--policies" else [value]:
                    if "$" in v or "..." in v or re.fullmatch(r"[a-z]|[A-Z][\w|:]*(\|.*)?", v):
                        continue  # a placeholder: NAME, P1, a, $w
                    seen += 1
                    if not known(flag, v):
                        bad.append(f"{_where(path, text, m.start())}: {flag} {v}")
    assert seen > 50
    assert not bad, "names the CLI does not know:\n" + "\n".join(bad)


def test_every_theorem_given_to_verify_exists() -> None:
    from sagacore.cli.verify import load_theorems

    theorems = {th.name for _, th in load_theorems(ROOT / "proofs")}
    folders = {p.name for p in (ROOT / "proofs").iterdir() if p.is_dir()}
    bad = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"sagacore verify ([a-z][\w-]*)", text):
            if m.group(1) not in theorems | folders:
                bad.append(f"{_where(path, text, m.start())}: {m.group(1)}")
    assert not bad, "no such theorem or proofs/ folder:\n" + "\n".join(bad)


def test_the_mutant_count_is_the_catalogue_s() -> None:
    from sagacore.testing.mutants import CATALOGUE

    m = re.search(r"CATALOGUE` \((\d+) today", (ROOT / "proofs/README.md").read_text())
    assert m is not None and int(m.group(1)) == len(CATALOGUE)


def test_every_registered_name_is_documented() -> None:
    """A router, scheduler, cache policy, stack, generator or reader a user can name."""
    from sagacore.cache import CACHE_POLICIES
    from sagacore.route import ROUTERS
    from sagacore.sched import SCHEDULERS
    from sagacore.stacks import STACKS
    from sagacore.workload.readers import READERS

    text = "\n".join(p.read_text() for p in DOCS)
    registries = {"ROUTERS": ROUTERS, "SCHEDULERS": SCHEDULERS, "CACHE_POLICIES": CACHE_POLICIES,
                  "STACKS": STACKS, "GENERATORS": GENERATORS, "READERS": READERS,
                  "REGIMES": REGIMES}
    missing = [f"{reg} {name}" for reg, names in registries.items() for name in names
               if f"`{name}`" not in text]
    assert not missing, "registered but in no doc:\n" + "\n".join(missing)
