"""``sagacore verify``: run the machine checkers of the theorems in ``proofs/``.

Each folder ``proofs/<name>/`` holds a theorem's statement (``STATEMENT.md``) and its
checker ``check.py``, which exposes ``THEOREMS``: a sequence of
:class:`sagacore.theory.theorems.Theorem`. The checkers import the exact models from the
installed package (``sagacore.theory``), so ``proofs/``
itself is plain files, not a package. ``verify`` finds the folder, in order: ``--proofs
DIR``; ``$SAGACORE_PROOFS``; ``proofs/`` in the current directory or any parent; the
``proofs/`` beside the source checkout the package was imported from (an editable or
in-place install). A wheel does not ship ``proofs/``: clone the repository to run it.
The checkers need ``hypothesis`` (``z3-solver`` for the SMT proofs, which are skipped
without it): ``pip install 'sagacore[test]'``; without hypothesis ``verify`` says so in
one line.

For each theorem it prints the statement, the proof's path in the docs and the result of
each check (instances enumerated, Hypothesis examples tried, SMT paths proved,
tightness witnesses, the recorded counterexample of a refuted claim). The exit status is
1 when a check finds a counterexample to a theorem marked as holding (or a refuted
claim's counterexample no longer reproduces) or a checker fails to load, else 0; 2 for
usage errors (and a missing ``proofs/`` folder or checker dependency). A progress bar on
stderr counts the theorems checked (on a terminal, without ``--quiet``). In ``--json``
the timing fields are each report's ``seconds`` (wall) and ``cpu_seconds`` (its
process's CPU time, which other work on the machine does not inflate) and each check's
``seconds``.

``--mutants`` checks the checkers instead: it applies each deliberate bug of
:data:`sagacore.testing.mutants.CATALOGUE` in turn (a lift removed, a clock frozen,
weights ignored, an off-by-one window...) and runs the checkers of the theorems it must
break, in default mode (targeted families, grids, Hypothesis; no SMT), until one finds
a violating instance. Each mutant is reported *killed* (with the theorem, the check and
the instance) or *survived*; the exit status is 1 if any survived. ``NAME`` then selects
a mutant or a family (vtc, wfq, hrrn, afs, justitia, srpt-aging, admission, route).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from sagacore.cli._args import add_quiet, int_at_least
from sagacore.cli._progress import Progress
from sagacore.errors import ConfigError, UnknownNameError

__all__ = ["find_proofs", "load_theorems", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify``."""
    p = sub.add_parser(
        "verify",
        help="run the machine checkers of the fairness and caching theorems",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("name", nargs="?", help="a theorem or a proofs/ folder (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON array of reports")
    p.add_argument("--thorough", action="store_true",
                   help="larger grids, more Hypothesis examples, larger SMT shapes")
    p.add_argument("--no-smt", action="store_true", help="skip the z3 proofs")
    p.add_argument("--list", action="store_true", help="list the theorems and exit")
    p.add_argument("--mutants", action="store_true",
                   help="apply each catalogued bug and require a checker to catch it "
                        "(exit 1 if one survives)")
    p.add_argument("--proofs", help="the proofs/ folder (default: found automatically)")
    p.add_argument("--jobs", type=int_at_least(1, 256), default=min(4, os.cpu_count() or 1),
                   help="checker processes (default: up to 4, one per core)")
    add_quiet(p)
    p.set_defaults(func=_verify)


def _check_dependencies() -> None:
    """One line naming what to install when a checker dependency is missing.

    ``z3-solver`` is optional: without it the SMT checks report ``skipped``.
    """
    if importlib.util.find_spec("hypothesis") is None:
        raise ConfigError(
            "sagacore verify needs hypothesis: pip install 'sagacore[test]' (or hypothesis; "
            "add z3-solver for the SMT proofs)"
        )


def _is_proofs(d: Path) -> bool:
    return d.is_dir() and any(d.glob("*/check.py"))


def find_proofs(explicit: str | None = None) -> Path:
    """The ``proofs/`` folder (module docs for the search order)."""
    if explicit:
        d = Path(explicit)
        if not _is_proofs(d):
            raise ConfigError(f"--proofs {explicit}: no <name>/check.py in it")
        return d
    env = os.environ.get("SAGACORE_PROOFS")
    if env:
        if not _is_proofs(Path(env)):
            raise ConfigError(f"SAGACORE_PROOFS={env}: no <name>/check.py in it")
        return Path(env)
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if _is_proofs(d / "proofs"):
            return d / "proofs"
    import sagacore

    beside = Path(sagacore.__file__).resolve().parent.parent / "proofs"
    if _is_proofs(beside):
        return beside
    raise ConfigError(
        "cannot find the proofs/ folder: run from a source checkout, set SAGACORE_PROOFS "
        "or pass --proofs DIR"
    )


def _load(path: Path) -> ModuleType:
    name = f"sagacore_proofs_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ConfigError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_theorems(proofs: Path, errors: list[str] | None = None) -> list[tuple[str, Any]]:
    """``(folder, theorem)`` for every theorem of every ``proofs/*/check.py``.

    A checker without ``THEOREMS`` is skipped (it follows another convention). A checker
    that fails to import raises, unless ``errors`` is given: then its error is appended
    there and the other folders still load.
    """
    out: list[tuple[str, Any]] = []
    for check in sorted(proofs.glob("*/check.py")):
        try:
            module = _load(check)
        except Exception as exc:
            if errors is None:
                raise
            errors.append(f"{check.parent.name}/check.py: {type(exc).__name__}: {exc}")
            continue
        for th in getattr(module, "THEOREMS", ()):
            out.append((check.parent.name, th))
    return out


def _select(theorems: list[tuple[str, Any]], name: str | None) -> list[tuple[str, Any]]:
    if name is None:
        return theorems
    chosen = [(f, t) for f, t in theorems if name in (f, t.name)]
    if not chosen:
        known = sorted({t.name for _, t in theorems} | {f for f, _ in theorems})
        raise UnknownNameError("theorem", name, known)
    return chosen


_MODULES: dict[Path, ModuleType] = {}


def _run_folder(proofs: str, folder: str, names: list[str], thorough: bool,
                smt: bool) -> list[dict[str, Any]]:
    """The reports of ``names`` of one folder, in one process: its checker is loaded
    once, so the theorems of a folder share its caches (the caching theorems solve the
    same LPs)."""
    return [_run_one(proofs, folder, n, thorough, smt) for n in names]


def _run_one(proofs: str, folder: str, name: str, thorough: bool, smt: bool) -> dict[str, Any]:
    from sagacore.theory.theorems import run_theorem

    path = Path(proofs) / folder / "check.py"
    module = _MODULES.get(path)
    if module is None:  # once per process
        module = _MODULES[path] = _load(path)
    th = next(t for t in module.THEOREMS if t.name == name)
    t0 = time.perf_counter()
    c0 = time.process_time()
    report = run_theorem(th, thorough=thorough, smt=smt, smt_seconds=300.0 if thorough else 30.0)
    out = report.to_json()
    out["folder"] = folder
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["cpu_seconds"] = round(time.process_time() - c0, 3)
    return out


_LOADED: dict[str, list[Any]] = {}


def _run_mutant(proofs: str, name: str) -> dict[str, Any]:
    from sagacore.testing.mutants import BY_NAME, kill

    if proofs not in _LOADED:  # once per worker process
        _LOADED[proofs] = [t for _, t in load_theorems(Path(proofs))]
    m = BY_NAME[name]
    try:
        return kill(m, _LOADED[proofs]).to_json()
    except ConfigError as exc:  # a theorem it needs is missing, or its target changed
        return {"mutant": m.name, "family": m.family, "description": m.description,
                "killed": False, "theorem": None, "check": None, "instance": None,
                "violated": [], "seconds": 0.0, "error": str(exc)}


def _mutant_text(rep: dict[str, Any], out: Any) -> None:
    if rep["killed"]:
        out.write(f"{rep['mutant']:<30} killed    by {rep['theorem']} ({rep['check']}, "
                  f"{rep['seconds']:.2f} s)\n")
        out.write(f"  instance: {json.dumps(rep['instance'])}\n")
        for v in rep["violated"][:1]:
            out.write(f"  violates: {v}\n")
    else:
        why = rep.get("error") or rep["description"]
        out.write(f"{rep['mutant']:<30} SURVIVED  ({rep['seconds']:.2f} s)  {why}\n")


def _mutants(args: argparse.Namespace, proofs: Path) -> int:
    from sagacore.testing.mutants import CATALOGUE

    chosen = [m for m in CATALOGUE if args.name in (None, m.name, m.family)]
    if not chosen:
        known = sorted({m.name for m in CATALOGUE} | {m.family for m in CATALOGUE})
        raise UnknownNameError("mutant", args.name, known)
    if args.list:
        for m in chosen:
            sys.stdout.write(f"{m.name:<30} {m.family:<9} {', '.join(m.theorems)}\n")
        return 0
    t0 = time.perf_counter()
    reports: list[dict[str, Any]] = []
    pool = (ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 and len(chosen) > 1
            else None)
    bar = Progress("mutants", quiet=args.quiet, unit="mutants")
    try:
        names = [m.name for m in chosen]
        results = (pool.map(_run_mutant, [str(proofs)] * len(names), names) if pool is not None
                   else (_run_mutant(str(proofs), n) for n in names))
        for rep in results:
            reports.append(rep)
            bar.close()
            if not args.json:
                _mutant_text(rep, sys.stdout)
                sys.stdout.flush()
            bar(len(reports), len(chosen))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    survived = [r["mutant"] for r in reports if not r["killed"]]
    if args.json:
        json.dump(reports, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(
            f"{len(reports)} mutants: {len(reports) - len(survived)} killed, "
            f"{len(survived)} survived ({time.perf_counter() - t0:.1f} s)\n"
        )
    return 1 if survived else 0


def _text(rep: dict[str, Any], out: Any) -> None:
    out.write(f"{rep['name']}  [{rep['verdict'].upper()}]  {rep['title']}\n")
    out.write(f"  statement: {rep['statement']}\n")
    out.write(f"  model:     {rep['model']}\n")
    out.write(f"  proof:     {rep['proof']}\n")
    for c in rep["checks"]:
        out.write(f"  {c['kind']:<10} {c['outcome']:<14} {c['detail']} ({c['seconds']:.2f} s)\n")
        cex = c.get("counterexample")
        if cex and c["kind"] != "witness" and c["outcome"] == "counterexample":
            out.write(f"             instance: {json.dumps(cex['instance'])}\n")
            for v in cex["violated"][:3]:
                out.write(f"             violates: {v}\n")
    out.write("\n")


def _verify(args: argparse.Namespace) -> int:
    proofs = find_proofs(args.proofs)
    _check_dependencies()
    if args.mutants:
        return _mutants(args, proofs)
    errors: list[str] = []
    theorems = _select(load_theorems(proofs, errors), args.name)
    for e in errors:
        sys.stderr.write(f"error: cannot load {e}\n")
    if args.list:
        for folder, th in theorems:
            sys.stdout.write(f"{th.name:<26} {th.claim:<8} {folder}/  {th.title}\n")
        return 1 if errors else 0
    folders: dict[str, list[str]] = {}
    for f, t in theorems:
        folders.setdefault(f, []).append(t.name)
    jobs = [(str(proofs), f, names, args.thorough, not args.no_smt)
            for f, names in folders.items()]
    t0 = time.perf_counter()
    reports: list[dict[str, Any]] = []
    pool = ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 and len(jobs) > 1 else None
    bar = Progress("verify", quiet=args.quiet, unit="theorems")
    try:
        results = (pool.map(_run_folder, *zip(*jobs, strict=True)) if pool is not None
                   else (_run_folder(*j) for j in jobs))
        for batch in results:  # in order, each folder printed as soon as it is ready
            for rep in batch:
                reports.append(rep)
                bar.close()
                if not args.json:
                    _text(rep, sys.stdout)
                    sys.stdout.flush()
                bar(len(reports), len(theorems))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    failed = [r["name"] for r in reports if r["verdict"] == "FAILED"]
    if args.json:
        json.dump(reports, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        holds = sum(r["verdict"] == "holds" for r in reports)
        refuted = sum(r["verdict"] == "refuted" for r in reports)
        sys.stdout.write(
            f"{len(reports)} theorems: {holds} hold, {refuted} refuted claims, "
            f"{len(failed)} failed ({time.perf_counter() - t0:.1f} s)\n"
        )
    return 1 if failed or errors else 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - convenience
    """Run ``sagacore verify`` with ``argv``."""
    from sagacore.cli import main as cli_main

    return cli_main(["verify", *(argv or [])])
