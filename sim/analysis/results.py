"""Results: per-login records, node load over time and the summary; saving and loading.

A results folder holds ``summary.json``, ``logins.csv`` (or ``logins.parquet``),
``node_load.csv``, ``sites.csv`` (one row per site: :mod:`sim.analysis.sites`), the marker
``.access-sim-result`` and, when asked, ``figures/``. Folders are written atomically (see
:mod:`sim.analysis.folders`): everything goes into a temporary sibling folder that is swapped
into place at the end, so a folder holds a complete result or nothing; :meth:`Results.load`
checks the shape of everything it reads.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from sim.addressing.registry import get_strategy
from sim.engine.records import LOGIN_DTYPES, OUTCOMES, PATH_NAMES, TRIGGERS, decider_names
from sim.errors import ResultsError
from sim.analysis.folders import (
    MARKER_FILE,
    clean_stale,
    file_mode,
    recover_missing,
    refuse_unless_replaceable,
    swap_into_place,
    target_folder,
    write_result_folder,
)
from sim.analysis.summary_shape import read_summary
from sim.model.workload import access_types
from sim.analysis.events import describe_event, event_metrics
from sim.analysis.sites import (
    SITE_COLUMNS,
    SITES_CSV_COLUMNS,
    country_figures,
    format_shares,
    parse_shares,
    site_figures,
)
from sim.analysis.statistics import flatten_figures, mean_ci

if TYPE_CHECKING:
    from sim.engine.records import ReplicationOutput
    from sim.model.world import World

__all__ = ["Results", "summarize", "atomic_write_text", "check_output_dir", "SUMMARY_FILE",
           "MARKER_FILE", "clean_stale", "replication_ci", "peak_utilization", "write_csv",
           "counts_note", "site_names", "sites_summary", "sites_from_summary", "SITES_FILE"]

SUMMARY_FILE = "summary.json"
SITES_FILE = "sites.csv"
_PERCENTILES = (50, 90, 95, 99)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file -rw------- whatever the umask: give it the mode any new
        # file gets (0o666 less the umask), as open() would.
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_dir(out: Path, *, overwrite: bool) -> None:
    """Refuse an output path before a run: a file, a link to a file or to nothing, the
    current folder (or one holding it), or a non-empty folder that is not a result of ours
    (no :data:`~sim.analysis.folders.MARKER_FILE`) unless ``overwrite``. :meth:`Results.save`
    checks again, holding the folder's lock.

    Raises
    ------
    ResultsError
    """
    real = target_folder(out)
    refuse_unless_replaceable(real, overwrite=overwrite, shown=str(out),
                              linked=out.is_symlink())


def check_folder(out: Path, own_files: Sequence[str], what: str) -> None:
    """Refuse an output folder holding anything but our own files, result folders,
    ``figures/`` and hidden temporary entries (so a typo in ``--out`` cannot mix results
    into an unrelated folder).

    Raises
    ------
    ResultsError
    """
    if out.exists() and not out.is_dir():
        raise ResultsError("exists and is not a folder", file=str(out))
    if not out.is_dir():
        return
    for entry in sorted(out.iterdir()):
        name = entry.name
        if name.startswith(".") or name in own_files or name in ("figures", "runs"):
            continue
        if entry.is_dir() and (entry / SUMMARY_FILE).is_file():
            continue
        raise ResultsError(f"folder holds {name!r}, which is not part of a {what}: use "
                           "another --out folder", file=str(out))



def _latency_stats(x: np.ndarray) -> dict[str, float | int]:
    if len(x) == 0:
        return {"logins": 0, "mean": math.nan, **{f"p{p}": math.nan for p in _PERCENTILES}}
    q = np.percentile(x, _PERCENTILES)
    return {"logins": int(len(x)), "mean": float(x.mean()),
            **{f"p{p}": float(v) for p, v in zip(_PERCENTILES, q)}}


def _r(x: Any) -> Any:
    """Plain JSON values for the summary: numpy scalars as Python numbers, NaN and infinities
    as null (JSON has no NaN). Floats keep their full precision: a figure rounded here would
    lose its spread across replications (a tiny utilisation at 3 decimals is the same in
    every replication, and a comparison then finds a difference with p = 0); the summary
    table and the comparison round for display only."""
    if isinstance(x, dict):
        return {k: _r(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_r(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def summarize(logins: pd.DataFrame, node_stats: dict[str, Any], *, warmup_s: float,
              duration_s: float, counts: dict[str, int]) -> dict[str, Any]:
    """The summary figures of a set of logins (one replication or several pooled).

    Only logins that started inside the measurement window ``[warmup_s, duration_s)`` count.
    """
    # Column by column, never a copy of the whole table (10 million logins fit in memory).
    t = logins["t_start_s"].to_numpy()
    in_win = (t >= warmup_s) & (t < duration_s)
    del t
    outcome = logins["outcome"]
    ok_code, failed_code = (outcome.cat.categories.get_loc(c) for c in ("ok", "failed"))
    codes = outcome.cat.codes.to_numpy()
    ok = in_win & (codes == ok_code)
    failed = int((in_win & (codes == failed_code)).sum())
    del codes
    n_ok = int(ok.sum())
    lat = logins["latency_ms"].to_numpy()[ok]
    region = logins["region"]
    region_ok = region.cat.codes.to_numpy()[ok]
    by_region = {str(name): _latency_stats(lat[region_ok == code])
                 for code, name in enumerate(region.cat.categories)
                 if (region_ok == code).any()}
    del region_ok
    decided_cat = logins["decided_by"]
    counts_by = np.bincount(decided_cat.cat.codes.to_numpy()[in_win],
                            minlength=len(decided_cat.cat.categories))
    attempted = int(in_win.sum())
    decided = pd.Series(counts_by / max(attempted, 1), index=decided_cat.cat.categories)
    decided = decided[decided > 0]
    excess = logins["rtt_ms"].to_numpy()[ok] - logins["best_rtt_ms"].to_numpy()[ok]
    ok_mask = ok
    del ok, in_win
    excess_stats = {"mean": float(excess.mean()) if len(excess) else math.nan,
                    **({f"p{p}": float(v) for p, v in zip(_PERCENTILES,
                                                           np.percentile(excess, _PERCENTILES))}
                       if len(excess) else {})}
    return _r({
        "logins": {"attempted": attempted, "succeeded": n_ok, "failed": failed,
                   "in_flight": attempted - n_ok - failed,
                   "failure_share": failed / attempted if attempted else math.nan,
                   # No login succeeded: the latency figures are null, not zero.
                   "all_failed": bool(attempted) and n_ok == 0,
                   "whole_run": counts},
        "latency_ms": {**_latency_stats(lat), "by_region": by_region},
        "nodes": node_stats,
        "addressing": {
            "decided_by": {str(k): float(v) for k, v in sorted(decided.items())},
            "lowest_rtt_share": float((excess <= 1e-9).mean()) if len(excess) else math.nan,
            "excess_rtt_ms": excess_stats,
            "excess_ge_25ms_share": float((excess >= 25).mean()) if len(excess) else math.nan,
            "excess_ge_100ms_share": float((excess >= 100).mean()) if len(excess) else math.nan,
            "spill_share": float(decided.get("spill", 0.0)),
            **_path_figures(logins, ok_mask),
        },
    })


def _path_figures(logins: pd.DataFrame, ok: np.ndarray) -> dict[str, Any]:
    """How the successful logins' answers came (``path_share``: from the node itself, over
    the backbone, over public transit) and the share whose node the end-to-end ranking chose
    over the nearest by RTT (``end_to_end_moved_share``)."""
    if "path" not in logins.columns:
        return {}
    path = logins["path"]
    codes = path.cat.codes.to_numpy()[ok]
    n = max(len(codes), 1)
    return {
        "path_share": {str(name): float((codes == i).sum() / n)
                       for i, name in enumerate(path.cat.categories)},
        "end_to_end_moved_share": float(logins["moved"].to_numpy()[ok].mean())
        if len(codes) else math.nan,
    }


class _FrameShape:
    """Turns the engine's columns (integer codes) into the logins table: names as
    categoricals (the same categories in every frame, so concatenations stay categorical),
    the terminal's region and coordinates, the replication."""

    def __init__(self, world: World):
        topo = world.topology
        sites = world.sites
        self.site_names = site_names(world)
        self.region_names = sorted(set(sites.regions))
        self.site_region = np.array([self.region_names.index(r) for r in sites.regions],
                                    dtype=np.int8)
        # float32 keeps the 4 decimals of the sites' coordinates exactly
        self.site_lat = sites.lat.astype(np.float32)
        self.site_lon = sites.lon.astype(np.float32)
        self.node_names = [*topo.node_ids, ""]
        self.kind_names = sorted(set(topo.kinds)) + [""]
        self.node_kind = np.array([self.kind_names.index(k) for k in topo.kinds]
                                  + [len(self.kind_names) - 1], dtype=np.int8)

    def frame(self, L: dict[str, np.ndarray], access_names: Sequence[str],
              deciders: Sequence[str], replication: int) -> pd.DataFrame:
        # pandas takes any list-like as categories; its stubs want an Index, hence the casts.
        site = L["site"]
        node = np.where(L["node"] >= 0, L["node"], len(self.node_names) - 1)
        cols: dict[str, Any] = {
            "login_id": L["login_id"],
            "t_start_s": L["t_start_s"],
            "site": pd.Categorical.from_codes(site, categories=cast("pd.Index[str]",
                                                                    self.site_names)),
            "region": pd.Categorical.from_codes(self.site_region[site],
                                                categories=cast("pd.Index[str]",
                                                                self.region_names)),
            "terminal_lat": self.site_lat[site],
            "terminal_lon": self.site_lon[site],
        }
        if "access" in L:
            cols["access_type"] = pd.Categorical.from_codes(
                L["access"], categories=cast("pd.Index[str]", list(access_names)))
        cols["node"] = pd.Categorical.from_codes(node,
                                                 categories=cast("pd.Index[str]", self.node_names))
        cols["node_kind"] = pd.Categorical.from_codes(self.node_kind[node],
                                                      categories=cast("pd.Index[str]",
                                                                      self.kind_names))
        cols["decided_by"] = pd.Categorical.from_codes(
            L["decided_by"], categories=cast("pd.Index[str]", list(deciders)))
        if "attempts" in L:
            cols["attempts"] = L["attempts"]
        cols["outcome"] = pd.Categorical.from_codes(
            L["outcome"], categories=cast("pd.Index[str]", list(OUTCOMES)))
        for c in ("latency_ms", "connect_ms", "queue_ms", "service_ms", "backend_ms",
                  "dns_ms", "probe_ms", "rtt_ms", "best_rtt_ms", "last_mile_ms", "user"):
            if c in L:
                cols[c] = L[c]
        cols["trigger"] = pd.Categorical.from_codes(
            L["trigger"], categories=cast("pd.Index[str]", list(TRIGGERS)))
        if "path" in L:
            cols["path"] = pd.Categorical.from_codes(
                L["path"], categories=cast("pd.Index[str]", list(PATH_NAMES)))
            cols["moved"] = L["moved"]
        cols["replication"] = np.full(len(L["login_id"]), replication, dtype=np.int16)
        return pd.DataFrame(cols, copy=False)  # shares the columns: no second copy


class ParquetLogins:
    """One replication's per-login records, written to a Parquet file batch by batch.

    The engine's ``sink`` (:func:`sim.engine.loop.run_replication`): each call appends the batch
    (engine columns, in login order) as row groups. Close it when the run ends.

    Parameters
    ----------
    world : World
    replication : int
    path : path-like
        The file to write (replaced).
    """

    def __init__(self, world: World, replication: int, path: str | os.PathLike[str]):

        self.path = Path(path)
        self.replication = replication
        self.rows = 0
        self._shape = _FrameShape(world)
        self._access = access_types(world.scenario)
        strategy = get_strategy(world.scenario.addressing.strategy)
        self._deciders = decider_names(strategy.name, strategy.LEVELS)
        self._writer: Any = None

    def __call__(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa  # deferred: pyarrow is optional (the parquet extra)
        import pyarrow.parquet as pq  # deferred: pyarrow is optional (the parquet extra)

        frame = self._shape.frame(columns, self._access, self._deciders, self.replication)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file (an empty table when no login finished)."""
        if self._writer is None:
            self({c: np.empty(0, dtype) for c, dtype in LOGIN_DTYPES.items()})
        self._writer.close()
        self._writer = None


class _Background:
    """``fn(*args)`` in a thread (Arrow and file writes release the GIL, so it runs beside
    the figures); :meth:`join` waits for it and re-raises what it raised."""

    def __init__(self, fn: Callable[..., None], *args: Any):
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the joining thread
                self._error = e

        self._thread = threading.Thread(target=run, name="access-sim-writer", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _gather_streamed(parts: Sequence[Path], folder: Path, fmt: str) -> None:
    """Copy streamed per-login files, batch by batch, into ``folder/logins.<fmt>``."""
    import pyarrow.parquet as pq  # deferred: pyarrow is optional (the parquet extra)

    writer = None
    try:
        with open(folder / "logins.csv", "wb") \
                if fmt == "csv" else contextlib.nullcontext() as csv_file:
            for part in parts:
                source = pq.ParquetFile(part)
                for i in range(source.num_row_groups):
                    table = source.read_row_group(i)
                    if csv_file is not None:
                        write_csv(table, csv_file, header=csv_file.tell() == 0)
                        continue
                    if writer is None:
                        writer = pq.ParquetWriter(folder / "logins.parquet", table.schema)
                    writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


# --------------------------------------------------------------------------- CSV

CSV_FLOAT_FORMAT = "%.4f"
"""Every float of ``logins.csv`` and ``node_load.csv`` has 4 decimals (NaN: empty)."""

_CSV_SPECIAL = (",", '"', "\n", "\r")


def write_csv(table: Any, file: Any, *, header: bool = True) -> None:
    """Write a table (pandas DataFrame or Arrow table) as CSV, fast, through Arrow.

    The bytes are those of ``DataFrame.to_csv(file, index=False, float_format="%.4f")``:
    floats with 4 decimals, correctly rounded (as ``%.4f`` rounds), NaN and missing values
    empty, categories and strings unquoted (a value that needs quotes, with a comma, a quote
    or a line break, sends the table to pandas' writer, which quotes it the same way), ints
    as they are, a header of the bare column names. ``file`` is a path or a binary file.
    """
    frame = table if isinstance(table, pd.DataFrame) else None
    try:
        import pyarrow as pa  # deferred: loads only when a table is written
        import pyarrow.csv as pacsv  # deferred: loads only when a table is written
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pa = None
    ready = None
    if pa is not None:
        arrow = pa.Table.from_pandas(frame, preserve_index=False) if frame is not None \
            else table
        ready = _csv_ready(arrow)
    if ready is None:  # pandas' writer: values that need quotes, or no pyarrow
        if frame is None:
            frame = table.to_pandas()
        text_file = isinstance(file, (str, os.PathLike))
        with (open(file, "wb") if text_file else contextlib.nullcontext(file)) as f:
            f.write(frame.to_csv(None, index=False, float_format=CSV_FLOAT_FORMAT,
                                 header=header).encode("utf-8"))
        return
    names, columns = ready
    with (open(file, "wb") if isinstance(file, (str, os.PathLike))
          else contextlib.nullcontext(file)) as f:
        if header:
            f.write((",".join(names) + "\n").encode("utf-8"))
        if columns.num_rows:
            pacsv.write_csv(columns, f, pacsv.WriteOptions(include_header=False,
                                                          quoting_style="none",
                                                          batch_size=65536))


def _csv_ready(table: Any) -> tuple[list[str], Any] | None:
    """The columns as Arrow writes them like pandas (floats as 4-decimal decimals), or None
    when pandas' writer must do it (a value or a name that needs quotes, a float that no
    4-decimal decimal shows as ``%.4f`` does: -0.0000, inf, beyond 2**52 / 10**4)."""
    import pyarrow as pa  # deferred: loads only when a table is written
    import pyarrow.compute as pc  # deferred: loads only when a table is written

    names = [str(n) for n in table.column_names]
    if any(c in n for n in names for c in _CSV_SPECIAL):
        return None
    columns = []
    for col in table.columns:
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        kind = col.type
        if pa.types.is_dictionary(kind):
            values = col.dictionary
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                return None
            if _needs_quotes(values, pc):
                return None
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if _needs_quotes(col, pc):
                return None
        elif pa.types.is_floating(kind):
            col = _fixed_4(col)
            if col is None:
                return None
        elif pa.types.is_boolean(kind):
            return None  # pandas writes True/False, Arrow true/false
        elif not pa.types.is_integer(kind):
            return None
        columns.append(col)
    return names, pa.table(columns, names=[f"c{i}" for i in range(len(columns))])


def _needs_quotes(values: Any, pc: Any) -> bool:
    if len(values) == 0:
        return False
    return any(pc.any(pc.match_substring(values, c)).as_py() for c in _CSV_SPECIAL)


def _fixed_4(col: Any) -> Any:
    """A float column as decimal128 with scale 4, the value ``%.4f`` shows (correctly
    rounded), null for NaN and null; None when a value is out of that range (see
    :func:`_csv_ready`)."""
    import pyarrow as pa  # deferred: loads only when a table is written

    x = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    valid = ~np.isnan(x)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * 1e4
        n = np.rint(scaled)
        if not (np.abs(scaled[valid]) < 2.0 ** 52).all():
            return None  # infinities, huge values: pandas' writer
        if (valid & (n == 0) & np.signbit(x)).any():
            return None  # -0.0000
        # x * 1e4 is off by at most an ulp: only a value next to a half may round the wrong
        # way; ``%.4f`` decides those (exactly).
        frac = np.abs(scaled - np.trunc(scaled))
        near = valid & (np.abs(frac - 0.5) <= 1e-9 * np.maximum(np.abs(scaled), 1.0))
    units = np.where(valid, n, 0.0).astype(np.int64)
    for i in np.flatnonzero(near):
        units[i] = int((CSV_FLOAT_FORMAT % x[i]).replace(".", ""))
    data = np.empty((len(units), 2), dtype=np.int64)  # little-endian 128-bit integers
    data[:, 0] = units
    data[:, 1] = units >> 63
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(38, 4), len(units),
                                 [validity, pa.py_buffer(data)])


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """The logins table as Parquet, straight through Arrow (Snappy, Arrow's threads)."""
    import pyarrow as pa  # deferred: pyarrow is optional (the parquet extra)
    import pyarrow.parquet as pq  # deferred: pyarrow is optional (the parquet extra)

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   compression="snappy")


class Results:
    """What a run produced.

    Attributes
    ----------
    summary : dict
        Figures, provenance and the resolved scenario (see ``summary.json``).
    logins : pandas.DataFrame
        One row per finished login (all replications, column ``replication``). With
        ``outputs.per_login: false``, or when the records were streamed to Parquet
        (``outputs.stream``), only the columns the summary and the figures need.
    node_load : pandas.DataFrame
        ``t_s, node, connections, logins_per_s, queue_len, utilization`` per sample.
    sites : pandas.DataFrame
        One row per site (:func:`sim.analysis.sites.site_figures`: logins, failures, latency,
        the nodes that served it and the deciding levels, with shares); of a folder without
        ``sites.csv`` (written before it existed), computed from the logins (or rebuilt from
        the summary) when first read.
    streamed : list of Path
        With ``outputs.stream``: the Parquet files the replications wrote their records to
        (in a temporary folder removed with this object); :meth:`save` gathers them into
        the result folder's ``logins.parquet``.
    """

    def __init__(self, summary: dict[str, Any], logins: pd.DataFrame, node_load: pd.DataFrame,
                 streamed: Sequence[Path] = (), sites: pd.DataFrame | None = None):
        self.summary = summary
        self.logins = logins
        self.node_load = node_load
        self.streamed = list(streamed)
        self._sites = sites

    @property
    def sites(self) -> pd.DataFrame:
        """The sites table (see the class docstring)."""
        if self._sites is None:
            self._sites = self._site_table()
        return self._sites

    @sites.setter
    def sites(self, table: pd.DataFrame) -> None:
        self._sites = table

    def _site_table(self) -> pd.DataFrame:
        if "sites" in self.summary:
            return sites_from_summary(self.summary)
        sc = self.summary.get("scenario_resolved") or {}
        return site_figures(self.logins, warmup_s=float(sc.get("warmup", 0.0)),
                            duration_s=float(sc.get("duration", math.inf)))

    def __repr__(self) -> str:
        lat = self.summary.get("latency_ms", {})
        return (f"Results({self.summary.get('scenario')!r}, logins={len(self.logins)}, "
                f"p50={lat.get('p50')} ms, p95={lat.get('p95')} ms, p99={lat.get('p99')} ms)")

    # ------------------------------------------------------------------ building

    @classmethod
    def from_outputs(cls, world: World, outputs: Sequence[ReplicationOutput],
                     provenance: dict[str, Any]) -> Results:
        """Shape raw engine output into tables and compute the summary."""
        sc = world.scenario
        topo = world.topology
        shape = _FrameShape(world)
        frames = [shape.frame(out.logins, out.access_names, out.decider_names, out.replication)
                  for out in outputs]
        # Same categories in every frame, so the concatenation stays categorical.
        logins = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        load_frames = []
        for out in outputs:
            nl = out.node_load
            load_frames.append(pd.DataFrame({
                "t_s": nl["t_s"], "node": np.array(topo.node_ids, dtype=object)[nl["node"]],
                "connections": nl["connections"], "logins_per_s": nl["logins_per_s"],
                "queue_len": nl["queue_len"], "utilization": nl["utilization"],
                "replication": np.full(len(nl["t_s"]), out.replication, dtype=np.int64)}))
        node_load = pd.concat(load_frames, ignore_index=True)
        node_load["events"] = _active_events(node_load["t_s"].to_numpy(),
                                             sc.resolved()["events"])
        node_load["down_by"] = _holding_events(node_load["t_s"].to_numpy(),
                                               node_load["node"].to_numpy(), world,
                                               sc.resolved()["events"])

        per_rep = []
        peaks = []
        areas = []
        countries = dict(zip(shape.site_names, world.sites.countries))
        window = {"warmup_s": sc.warmup, "duration_s": sc.duration}
        for out, frame, load in zip(outputs, frames, load_frames):
            stats = _node_stats(world, [out])
            per_rep.append(summarize(frame, stats, warmup_s=sc.warmup, duration_s=sc.duration,
                                     counts=out.counts))
            peaks.append(peak_utilization(load, warmup_s=sc.warmup, duration_s=sc.duration,
                                          nodes=list(stats)))
            rep_sites = site_figures(frame, countries=countries, **window) \
                if len(frames) > 1 else None
            if rep_sites is not None:
                areas.append(_area_figures(rep_sites, country_figures(frame, rep_sites,
                                                                      **window)))
        sites = site_figures(logins, countries=countries, **window)
        by_country = country_figures(logins, sites, **window)
        if not areas:  # one replication: its figures are the pooled ones
            areas.append(_area_figures(sites, by_country))
        counts = {k: int(sum(o.counts[k] for o in outputs)) for k in outputs[0].counts}
        pooled = summarize(logins, _node_stats(world, outputs), warmup_s=sc.warmup,
                           duration_s=sc.duration, counts=counts)
        summary = {
            **provenance,
            **pooled,
            "node_coords": {n: [float(topo.lat[i]), float(topo.lon[i])]
                            for i, n in enumerate(topo.node_ids) if topo.kinds[i] != "hub"},
            "replication_figures": [{**_headline(r, peak), **_r(area)}
                                    for r, peak, area in zip(per_rep, peaks, areas)],
        }
        summary["ci95"] = replication_ci(summary["replication_figures"])
        summary.update(sites_summary(sites, by_country, summary["replication_figures"]))
        summary["counts_include"] = counts_note(sc.warmup, sc.duration)
        edge = {topo.node_ids[i] for i in world.edge_nodes}
        summary["events"] = _r(event_metrics(logins, node_load, sc.resolved()["events"],
                                             warmup_s=sc.warmup, duration_s=sc.duration,
                                             edge_nodes=edge))
        return cls(summary, logins, node_load, sites=sites)

    # ------------------------------------------------------------------ files

    def save(self, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
             fmt: str | None = None,
             extra: Callable[[Results, Path], None] | None = None,
             on_step: Callable[[str, float | None], None] | None = None) -> Path:
        """Write the result folder atomically (:mod:`sim.analysis.folders`).

        The files and the marker ``.access-sim-result`` go into a temporary sibling folder,
        swapped into place at the end under the folder's lock, so ``out_dir`` holds the
        previous complete result or the new one, never a part. The per-login table is
        written through Arrow in a second thread while ``node_load.csv`` and ``extra`` (the
        figures) are made in this one.

        Parameters
        ----------
        out_dir : path-like
            The folder. A previous result of ours (or an empty folder) is replaced; any other
            non-empty folder is refused unless ``overwrite``. A symbolic link to a folder is
            followed (the folder it points to is replaced; the link stays).
        fmt : {"csv", "parquet"}, optional
            Format of the per-login table (default: the scenario's ``outputs.format``).
        extra : callable, optional
            ``extra(results, tmp_dir)`` writes more files (figures) into the folder before
            it is renamed into place.
        on_step : callable, optional
            ``on_step(step, seconds)``: ``seconds`` None when a step starts, its wall time
            when it ends; steps ``"logins.csv"`` (or ``"logins.parquet"``), ``"extra"``.

        Raises
        ------
        ResultsError
            The folder is not ours and not empty, or cannot be written.
        """
        out = Path(out_dir)
        scenario = self.summary.get("scenario_resolved", {})
        outputs = scenario.get("outputs", {}) if isinstance(scenario, dict) else {}
        fmt = fmt or outputs.get("format", "csv")
        step = on_step if on_step is not None else (lambda name, seconds: None)

        def write_logins(tmp: Path) -> None:
            name = f"logins.{fmt}"
            started = time.perf_counter()
            step(name, None)
            if self.streamed:
                _gather_streamed(self.streamed, tmp, fmt)
            elif fmt == "parquet":
                try:
                    write_parquet(self.logins, tmp / "logins.parquet")
                except ImportError:
                    raise ResultsError("writing Parquet needs pyarrow: "
                                       "pip install 'access-sim[parquet]'",
                                       file=str(out)) from None
            else:
                write_csv(self.logins, tmp / "logins.csv")
            step(name, time.perf_counter() - started)

        def write(tmp: Path) -> None:
            (tmp / SUMMARY_FILE).write_text(json.dumps(self.summary, indent=2, sort_keys=False)
                                            + "\n", encoding="utf-8")
            logins = None
            if self.streamed or outputs.get("per_login", True):
                logins = _Background(write_logins, tmp)
            try:
                write_csv(self.node_load, tmp / "node_load.csv")
                write_csv(self.sites[list(SITES_CSV_COLUMNS)], tmp / SITES_FILE)
                if extra is not None:
                    started = time.perf_counter()
                    step("extra", None)
                    extra(self, tmp)
                    step("extra", time.perf_counter() - started)
            finally:
                if logins is not None:
                    logins.join()  # re-raises what the thread raised

        return write_result_folder(out, write, overwrite=overwrite)

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> Results:
        """Read a result folder written by :meth:`save`.

        Raises
        ------
        ResultsError
            The folder or its summary is missing or unreadable.
        """
        d = Path(out_dir)
        try:
            recover_missing(d)  # a writer killed between its two renames
            if d.exists() and not d.is_dir():
                raise ResultsError("not a folder: give a result folder", file=str(d))
            if not d.is_dir():
                raise ResultsError("no such folder", file=str(d))
        except OSError as e:
            raise ResultsError(f"cannot read: {e.strerror or e}", file=str(d)) from None
        summary = read_summary(d / SUMMARY_FILE, shown=str(d / SUMMARY_FILE))
        outputs = summary.get("scenario_resolved", {}).get("outputs", {})
        logins = _read_logins(d, expected=bool(outputs.get("per_login", True)
                                               or outputs.get("stream", False)))
        node_load = _read_table(d / "node_load.csv", NODE_LOAD_COLUMNS, NODE_LOAD_NUMERIC,
                                keep_default_na=False)
        sites = _read_sites(d / SITES_FILE, summary) if (d / SITES_FILE).is_file() else None
        return cls(summary, logins, node_load, sites=sites)


SITES_NUMERIC = ("lat", "lon", "logins", "failed", "p50", "p95", "p99", "mean")
SITES_TEXT = ("site", "country", "region", "nodes", "decided_by")


def _read_sites(path: Path, summary: dict[str, Any]) -> pd.DataFrame:
    """``sites.csv`` as :func:`sim.analysis.sites.site_figures` gives it: the shares parsed
    back (``node_shares``, ``decided_shares``), ``failure_share`` from the counts, p90 from
    the summary where it is there (``sites.csv`` does not keep it).

    Raises
    ------
    ResultsError
        Missing column, text where a number belongs, a damaged shares cell.
    """
    # Text columns as text: "NA" is Namibia, not a missing value.
    table = _read_table(path, SITES_CSV_COLUMNS, SITES_NUMERIC, keep_default_na=False,
                        dtype={c: str for c in SITES_TEXT})
    for col in ("logins", "failed"):
        values = table[col].to_numpy(dtype=float)
        if len(values) and not (np.isfinite(values).all() and (values == np.rint(values)).all()
                                and (values >= 0).all()):
            raise ResultsError("expected whole counts", file=str(path), path=col)
        table[col] = values.astype(np.int64)
    for col in ("lat", "lon", "p50", "p95", "p99", "mean"):
        table[col] = table[col].astype(float)
    try:
        table["node_shares"] = pd.Series([parse_shares(v) for v in table["nodes"]],
                                         index=table.index, dtype=object)
        table["decided_shares"] = pd.Series([parse_shares(v) for v in table["decided_by"]],
                                            index=table.index, dtype=object)
    except ValueError:
        raise ResultsError("expected 'name share; name share ...' in nodes and decided_by",
                           file=str(path)) from None
    with np.errstate(invalid="ignore", divide="ignore"):
        table["failure_share"] = np.where(table["logins"] > 0,
                                          table["failed"] / table["logins"].clip(lower=1),
                                          math.nan)
    p90 = {name: s.get("p90") for name, s in (summary.get("sites") or {}).items()}
    table["p90"] = [math.nan if p90.get(n) is None else float(p90[n])
                    for n in table["site"]]
    return table[[*SITE_COLUMNS, "node_shares", "decided_shares"]]


NODE_LOAD_COLUMNS = ("t_s", "node", "utilization")
NODE_LOAD_NUMERIC = ("t_s", "connections", "logins_per_s", "queue_len", "utilization",
                     "replication")
LOGIN_NUMERIC = ("login_id", "t_start_s", "latency_ms", "rtt_ms", "best_rtt_ms",
                 "terminal_lat", "terminal_lon", "replication")


LOGIN_REQUIRED = ("login_id", "t_start_s", "outcome", "latency_ms")
"""Columns every logins table of every version holds (what comparisons and figures read)."""


def _read_logins(d: Path, *, expected: bool) -> pd.DataFrame:
    parquet, csv = d / "logins.parquet", d / "logins.csv"
    if parquet.is_file():
        logins = _read_table(parquet, LOGIN_REQUIRED, LOGIN_NUMERIC)
    elif csv.is_file():
        logins = _read_table(csv, LOGIN_REQUIRED, LOGIN_NUMERIC, keep_default_na=False,
                             na_values={"rtt_ms": [""], "best_rtt_ms": [""]})
        for col in ("site", "region", "access_type", "node", "node_kind", "decided_by",
                    "outcome", "trigger"):
            if col in logins:
                logins[col] = logins[col].astype("category")
    elif expected:
        raise ResultsError("no logins.csv or logins.parquet, though the run kept per-login "
                           "records (outputs.per_login): the folder is incomplete",
                           file=str(d))
    else:
        logins = pd.DataFrame()
    return logins


def _read_table(path: Path, required: Sequence[str], numeric: Sequence[str],
                **csv_options: Any) -> pd.DataFrame:
    """A table of a result folder, with its columns checked.

    Raises
    ------
    ResultsError
        Missing, unreadable (truncated, binary), a required column missing, or text where
        a number belongs.
    """
    file = str(path)
    if not path.is_file():
        raise ResultsError("missing: the folder is incomplete", file=file)
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, **csv_options)
    except ImportError:
        raise ResultsError("reading Parquet needs pyarrow: pip install "
                           "'access-sim[parquet]'", file=file) from None
    except Exception as e:  # noqa: BLE001 - any parser failure is a damaged file
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ResultsError(f"cannot read ({type(e).__name__}: {text[:120]})"
                           if text else f"cannot read ({type(e).__name__})",
                           file=file) from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ResultsError("missing column (a damaged or foreign file)", file=file,
                           path=missing[0])
    for col in numeric:
        if col in table.columns and not pd.api.types.is_numeric_dtype(table[col]):
            values = table[col].replace("", np.nan)
            try:
                table[col] = pd.to_numeric(values)
            except (ValueError, TypeError):
                bad = next((v for v in values if not _parses(v)), None)
                raise ResultsError(f"expected numbers, got {str(bad)[:40]!r}", file=file,
                                   path=col) from None
    return table


def _parses(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return v is None
    return True


def _active_events(t_s: np.ndarray, events: list[dict[str, Any]]) -> np.ndarray:
    """For each sample time, the events in force then ("; "-separated; "" for none)."""
    out = np.full(len(t_s), "", dtype=object)
    for ev in events:
        start = float(ev["at"])
        end = start + float(ev["for"]) if ev.get("for") is not None else start
        label = describe_event(ev)
        if end > start:
            mask = (t_s > start) & (t_s <= end)
        else:  # an instant event marks the first sample at or after it
            later = t_s[t_s >= start]
            mask = t_s == later.min() if len(later) else np.zeros(len(t_s), dtype=bool)
        out[mask] = np.where(out[mask] == "", label, out[mask] + "; " + label)
    return out


def _holding_events(t_s: np.ndarray, node: np.ndarray, world: World,
                    events: list[dict[str, Any]]) -> np.ndarray:
    """For each sample of a node, the events that hold that node down then ("; "-separated;
    "" for none): a node is down while any of them does (a ``node_up`` releases them all)."""
    topo = world.topology
    out = np.full(len(t_s), "", dtype=object)
    ups: dict[str, list[float]] = {}
    for ev in events:
        if ev.get("node_up") is not None:
            ups.setdefault(ev["node_up"], []).append(float(ev["at"]))
    for ev in events:
        if ev.get("region_outage") is not None:
            targets = [topo.node_ids[i] for i in world.region_outage_nodes(ev["region_outage"])]
        elif ev.get("node_down") is not None or ev.get("datacenter_down") is not None:
            targets = [ev.get("node_down") or ev["datacenter_down"]]
        else:
            continue
        start = float(ev["at"])
        label = describe_event(ev)
        for target in targets:
            end = start + float(ev["for"]) if ev.get("for") is not None else math.inf
            end = min([end] + [u for u in ups.get(target, []) if u > start])
            mask = (node == target) & (t_s > start) & (t_s <= end)
            out[mask] = np.where(out[mask] == "", label, out[mask] + "; " + label)
    return out


def site_names(world: World) -> list[str]:
    """The names of a world's sites as the logins table and ``summary["sites"]`` give them
    (made unique: a second city of the same name gets `` (2)``)."""
    names = world.sites.names
    return list(names) if len(set(names)) == len(names) else unique_site_names(names)


def unique_site_names(names: Sequence[str]) -> list[str]:
    """Site names made unique (two cities can share a name): later ones get a suffix."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n} ({k + 1})")
    return out


def _replace_dir(tmp: Path, out: Path) -> None:
    """Swap the complete folder ``tmp`` into place at ``out``
    (:func:`sim.analysis.folders.swap_into_place`)."""
    swap_into_place(tmp, out)


def _node_stats(world: World, outputs: Sequence[ReplicationOutput]) -> dict[str, Any]:
    topo = world.topology
    span = sum(o.window_s for o in outputs)
    # Sums of arrays (outputs is not empty, so never sum's start, 0).
    total: dict[str, Any] = {k: sum(o.node_stats[k] for o in outputs)
                             for k in outputs[0].node_stats}
    peak = np.max([o.node_stats["peak_connections"] for o in outputs], axis=0)
    stats = {}
    for i, node_id in enumerate(topo.node_ids):
        if topo.kinds[i] == "hub":
            continue
        served = int(total["served"][i])
        stats[node_id] = {
            "kind": topo.kinds[i],
            "region": topo.regions[i],
            "logins": int(total["logins_ok"][i]) if topo.kinds[i] != "datacenter" else served,
            "peak_connections": int(peak[i]),
            "utilization": float(total["b_area"][i] / (world.params.workers[i] * span)),
            "mean_wait_ms": 1000.0 * float(total["wait_sum_s"][i]) / served if served else 0.0,
            "mean_queue_len": float(total["q_area"][i] / span),
            "arrival_rate_per_s": float(total["arrivals"][i] / span),
            "rejected": int(total["rejected"][i]),
            "timeouts": int(total["timeouts"][i]),
            "dropped_sessions": int(total["dropped_sessions"][i]),
            "raced": int(total["raced"][i]),
            "expired": int(total["expired"][i]),
            "budget_refused": int(total["budget_refused"][i]),
            "ticket_hits": int(total["ticket_hits"][i]),
        }
        if topo.kinds[i] == "datacenter":
            # Logins that succeeded with the data center as their edge (paths.datacenter_edge):
            # with the access and cache nodes' logins they add up to logins.whole_run.succeeded.
            stats[node_id]["edge_logins"] = int(total["logins_ok"][i])
    return stats


def counts_note(warmup_s: float, duration_s: float) -> dict[str, str]:
    """What each count of the summary includes (``summary["counts_include"]``)."""
    return {
        "logins": f"logins that started in the measurement window, {warmup_s:g} s (the end of "
                  f"the warm-up) to {duration_s:g} s (the end of the arrivals), all "
                  "replications: attempted = succeeded + failed + in_flight (still running "
                  "when the drain after the arrivals ended); latency_ms, addressing and "
                  "replication_figures count the same logins",
        "logins.whole_run": f"every login of the run, the warm-up (0 to {warmup_s:g} s) "
                            "included, counted when the drain after the arrivals ended "
                            "(`access-sim validate` estimates both counts)",
        "nodes": "the whole run from 0 s, the warm-up included: an access or cache node's "
                 "logins, and a data center's edge_logins (logins that succeeded with it as "
                 "their edge), are counted to the end of the drain and add up to "
                 "logins.whole_run.succeeded; a data center's logins are those it served up "
                 f"to the end of the arrivals ({duration_s:g} s); utilization, mean_wait_ms, "
                 f"mean_queue_len and arrival_rate_per_s are over 0 to {duration_s:g} s",
    }


def _headline(summary: dict[str, Any], peak: dict[str, float] | None = None) -> dict[str, Any]:
    lat = summary["latency_ms"]
    lg = summary["logins"]
    return {
        "latency_ms": {k: lat[k] for k in ("mean", "p50", "p90", "p95", "p99")},
        "failure_share": lg["failed"] / lg["attempted"] if lg["attempted"] else None,
        "spill_share": summary["addressing"]["spill_share"],
        "utilization": {n: s["utilization"] for n, s in summary["nodes"].items()},
        "peak_utilization": peak if peak is not None else {},
        "by_region_p95": {r: s["p95"] for r, s in lat["by_region"].items()},
        "by_region": {r: {k: s[k] for k in _REGION_FIGURES} for r, s in lat["by_region"].items()},
    }


_SITE_FIGURES = ("mean", "p50", "p95", "p99", "failure_share")
"""The figures of a site or a country kept per replication (for their intervals)."""
_REGION_FIGURES = ("mean", "p50", "p95", "p99")


def _area_figures(sites: pd.DataFrame, countries: pd.DataFrame) -> dict[str, Any]:
    """One replication's figures per site and per country (``replication_figures``)."""
    def table(frame: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
        cols = {c: frame[c].to_numpy(dtype=float) for c in _SITE_FIGURES}
        return {str(name): {c: cols[c][i] for c in _SITE_FIGURES}
                for i, name in enumerate(frame[key])}
    return {"sites": table(sites, "site"), "countries": table(countries, "country")}


def _area_intervals(names: Sequence[str], key: str,
                    replication_figures: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per site (or country), the mean and 95% interval across replications of each of
    :data:`_SITE_FIGURES` (``{figure: {mean, low, high}}``)."""
    out = {}
    for name in names:
        cis = {}
        for fig in _SITE_FIGURES:
            ci = mean_ci((r.get(key) or {}).get(name, {}).get(fig)
                         for r in replication_figures)
            cis[fig] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
        out[name] = cis
    return out


def sites_summary(sites: pd.DataFrame, countries: pd.DataFrame,
                  replication_figures: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``summary["sites"]`` and ``summary["countries"]``: the pooled figures of each site
    (logins, failures, latency, the nodes that served it and the deciding levels, with
    shares) and of each country; with more than one replication each also holds ``ci95``,
    the mean and 95% interval across replications of its mean, p50, p95, p99 and failure
    share (as ``ci95`` does for the headline figures)."""
    reps = len(replication_figures)
    site_ci = _area_intervals([str(s) for s in sites["site"]], "sites", replication_figures) \
        if reps > 1 else {}
    country_ci = _area_intervals([str(c) for c in countries["country"]], "countries",
                                 replication_figures) if reps > 1 else {}
    out_sites: dict[str, Any] = {}
    row: dict[Any, Any]
    for row in sites.to_dict(orient="records"):
        name = str(row["site"])
        entry: dict[str, Any] = {
            "country": str(row["country"]), "region": str(row["region"]),
            "lat": row["lat"], "lon": row["lon"],
            "logins": int(row["logins"]), "failed": int(row["failed"]),
            "failure_share": row["failure_share"],
            **{c: row[c] for c in ("mean", "p50", "p90", "p95", "p99")},
            "nodes": dict(row["node_shares"]), "decided_by": dict(row["decided_shares"])}
        if name in site_ci:
            entry["ci95"] = site_ci[name]
        out_sites[name] = entry
    out_countries: dict[str, Any] = {}
    for row in countries.to_dict(orient="records"):
        name = str(row["country"])
        centry: dict[str, Any] = {
            "sites": int(row["sites"]), "logins": int(row["logins"]),
            "failed": int(row["failed"]), "failure_share": row["failure_share"],
            **{c: row[c] for c in ("mean", "p50", "p95", "p99")}}
        if name in country_ci:
            centry["ci95"] = country_ci[name]
        out_countries[name] = centry
    return _r({"sites": out_sites, "countries": out_countries})


def sites_from_summary(summary: dict[str, Any]) -> pd.DataFrame:
    """The sites table (:func:`sim.analysis.sites.site_figures`' columns) rebuilt from
    ``summary["sites"]`` (p90 is not kept there: NaN)."""
    rows = []
    for name, s in (summary.get("sites") or {}).items():
        rows.append({"site": name, "country": s.get("country", ""),
                     "region": s.get("region", ""),
                     "lat": s.get("lat"), "lon": s.get("lon"),
                     "logins": s.get("logins", 0), "failed": s.get("failed", 0),
                     "failure_share": s.get("failure_share"),
                     **{c: s.get(c) for c in ("mean", "p50", "p90", "p95", "p99")},
                     "node_shares": dict(s.get("nodes") or {}),
                     "decided_shares": dict(s.get("decided_by") or {})})
    frame = pd.DataFrame(rows, columns=[*SITE_COLUMNS, "node_shares", "decided_shares"])
    frame["nodes"] = [format_shares(d) for d in frame["node_shares"]]
    frame["decided_by"] = [format_shares(d) for d in frame["decided_shares"]]
    for c in ("lat", "lon", "failure_share", "mean", "p50", "p90", "p95", "p99"):
        frame[c] = pd.to_numeric(frame[c]).astype(float)
    return frame


def peak_utilization(node_load: pd.DataFrame, *, warmup_s: float, duration_s: float,
                     nodes: Sequence[str] | None = None) -> dict[str, float]:
    """Largest sampled utilisation of each node in the measurement window, of one replication.

    Samples with ``warmup_s < t_s <= duration_s`` count (a sample at ``t_s`` covers the
    ``sample_every`` seconds before it). Full precision (``node_load.csv`` shows 4 decimals).

    Parameters
    ----------
    node_load : pandas.DataFrame
        ``t_s, node, utilization`` rows of one replication.
    nodes : sequence of str, optional
        Nodes to report, in this order (a node without samples gets 0.0); default: the
        nodes of the table, in order of first appearance.
    """
    t = node_load["t_s"].to_numpy(dtype=float)
    win = node_load[(t > warmup_s + 1e-9) & (t <= duration_s + 1e-9)]
    peak = win.groupby("node", sort=False, observed=True)["utilization"].max()
    order = list(nodes) if nodes is not None else list(pd.unique(node_load["node"]))
    return {str(n): float(peak.get(n, 0.0)) for n in order}


def replication_ci(replication_figures: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95% confidence interval across replications of every headline figure.

    Keys are figure names (``latency_ms.p95``, ``nodes.<node>.peak_utilization`` ...: see
    :mod:`sim.analysis.statistics`); values ``{n, mean, low, high, half_width, sd}``, with ``low``,
    ``high``, ``half_width`` and ``sd`` null for a single replication. The mean is the mean
    of the per-replication figures (for percentiles, not the percentile of pooled logins).
    """

    flat = [flatten_figures(f) for f in replication_figures]
    names: dict[str, None] = {}
    for f in flat:
        names.update(dict.fromkeys(f))
    return {name: _r(mean_ci(f.get(name) for f in flat).as_dict()) for name in names}
