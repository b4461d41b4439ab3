"""The sweep's tidy tables on disk, written as runs finish, read back to resume.

A sweep's output folder holds:

- ``results.jsonl``: one JSON object per finished run (every field of
  :data:`~sagacore.sweep.run.ROW_FIELDS` and the per-task TCTs); the source of truth;
- ``results.csv``: the same rows without the per-task fields (for spreadsheets, pandas);
- ``peaks.jsonl``: one object per SLO-peak search.

Each row is appended and flushed the moment its run ends, so a sweep killed at any
point loses at most the runs in flight; started again with the same folder it skips
every run whose key is already there. A half-written last line (the process killed
while writing) is dropped on reading, and the CSV is rewritten from the JSON Lines
table when a sweep starts, so the two always agree.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> t = ResultTable(d)
>>> t.append({"workload": "w", "cluster": "c", "stack": "s", "rate_per_min": 1.0,
...           "seed": 0, "tasks": None, "tct_by_task": {"a": 1.0}})
>>> ResultTable(d).done_keys()
{('w', 'c', 's', 1.0, 0, None)}
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sagacore.errors import ConfigError, TraceFormatError
from sagacore.sweep.run import ROW_FIELDS

__all__ = ["ResultTable", "read_rows", "row_key"]

RowKey = tuple[str, str, str, float, int, int | None]


def row_key(row: dict[str, Any]) -> RowKey:
    """The :meth:`~sagacore.sweep.spec.RunSpec.key` of the run a row came from."""
    return (row["workload"], row["cluster"], row["stack"], round(float(row["rate_per_min"]), 9),
            int(row["seed"]), row["tasks"])


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if i >= len(lines) - 1:  # a last line cut short by a kill: the run is redone
                return
            raise TraceFormatError(path, "not a JSON object (a corrupted results table?)",
                                   line=i) from None
        if not isinstance(obj, dict):
            raise TraceFormatError(path, "not a JSON object", line=i)
        yield obj


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results table: a sweep folder, its ``results.jsonl`` or any JSON Lines
    file of rows.

    Raises
    ------
    ConfigError
        If the path does not exist or holds no results table.
    TraceFormatError
        If a line (other than a last one cut short) is not a JSON object.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.jsonl"
    if not p.is_file():
        raise ConfigError(f"no results table at {path} (give a sweep folder or its results.jsonl)")
    rows = list(_iter_jsonl(p))
    for i, r in enumerate(rows, 1):
        missing = [f for f in ("workload", "cluster", "stack", "rate_per_min", "seed") if f not in r]
        if missing:
            raise TraceFormatError(p, f"row lacks {', '.join(missing)}", line=i)
    return rows


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return v


class ResultTable:
    """The results folder of a sweep (created if missing).

    Raises
    ------
    ConfigError
        If ``folder`` exists and is not a folder, or cannot be written.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"output {folder} exists and is not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".write-test"
            probe.write_text("", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"cannot write to output folder {folder}: {exc.strerror}") from None
        self.jsonl = self.folder / "results.jsonl"
        self.csv = self.folder / "results.csv"
        self.peaks = self.folder / "peaks.jsonl"
        self._rows = list(_iter_jsonl(self.jsonl))
        self._peaks = list(_iter_jsonl(self.peaks))
        self._rewrite()

    def _rewrite(self) -> None:
        """Rewrite both tables from the rows read (drops a cut-short last line)."""
        tmp = self.jsonl.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for r in self._rows:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.jsonl)
        tmp = self.csv.with_suffix(".csv.tmp")
        with tmp.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(ROW_FIELDS)
            for r in self._rows:
                w.writerow([_csv_value(r.get(k)) for k in ROW_FIELDS])
        os.replace(tmp, self.csv)
        if self._peaks or self.peaks.exists():
            tmp = self.peaks.with_suffix(".jsonl.tmp")
            with tmp.open("w", encoding="utf-8") as f:
                for r in self._peaks:
                    f.write(json.dumps(r) + "\n")
            os.replace(tmp, self.peaks)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row written so far."""
        return list(self._rows)

    def done_keys(self) -> set[RowKey]:
        """Keys of the runs already in the table."""
        return {row_key(r) for r in self._rows}

    def append(self, row: dict[str, Any]) -> None:
        """Add a finished run's row to both tables, flushed to disk."""
        self._rows.append(row)
        with self.jsonl.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with self.csv.open("a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow([_csv_value(row.get(k)) for k in ROW_FIELDS])

    def peak_rows(self) -> list[dict[str, Any]]:
        """Every SLO-peak search recorded."""
        return list(self._peaks)

    def append_peak(self, peak: dict[str, Any]) -> None:
        """Record an SLO-peak search."""
        self._peaks.append(peak)
        with self.peaks.open("a", encoding="utf-8") as f:
            f.write(json.dumps(peak) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append several rows."""
        for r in rows:
            self.append(r)
