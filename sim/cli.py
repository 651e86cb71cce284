"""The ``access-sim`` command line: a thin layer over the Python API.

Exit status: 0 success, 2 a problem with the input (one line on stderr naming the file and
the key), 130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM), 70 an internal error (a
bug: please report it with the traceback). An interrupted command leaves no partial file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from sim.version import package_version

__all__ = ["main"]

EXIT_OK, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 2, 70, 130
EXIT_TERMINATED = 143


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up path (temporary folders, worker
    processes) runs the same way."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line (its default is also 2, plus usage)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _set_pairs(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            shown = pair if len(pair) <= 60 else pair[:57] + "..."
            raise _InputError(f"--set {shown}: expected key.path=value")
        out[key.strip()] = value
    return out


class _InputError(Exception):
    pass


MAX_ERROR_LINE = 300
"""An error line is cut to this many characters (sim.config.limits.MAX_ERROR_LINE)."""


def _error_line(e: BaseException) -> str:
    """``error: FILE: KEY: message``: one line (control characters escaped), at most
    MAX_ERROR_LINE characters."""
    text = str(e)
    if len(text) > 4 * MAX_ERROR_LINE:
        text = text[:4 * MAX_ERROR_LINE]
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)
    line = f"error: {text}"
    return line if len(line) <= MAX_ERROR_LINE else line[:MAX_ERROR_LINE - 3] + "..."


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = _Parser(prog="access-sim",
                description="Access-node latency simulator for global IM networks.")
    p.add_argument("--version", action="version", version=f"access-sim {package_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--set", dest="overrides", action="append", metavar="KEY.PATH=VALUE",
                        help="override a scenario value (repeatable), e.g. population.dau=5e5")

    def executor_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--jobs", type=int, metavar="N",
                        help="local processes (or local Dask workers); default: one per core")
        sp.add_argument("--executor", choices=("local", "dask"),
                        help="where runs go: local processes (default) or a Dask cluster")
        sp.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="Dask scheduler address (default with --executor dask: start a "
                             "local cluster)")

    r = sub.add_parser("run", help="run a scenario and write its results")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("--out", type=Path, help="results folder (default: results/<scenario name>)")
    r.add_argument("--seed", type=int, help="override the scenario's seed")
    r.add_argument("--replications", type=int, help="override the number of replications")
    r.add_argument("--format", choices=("csv", "parquet"), help="per-login table format")
    r.add_argument("--no-figures", action="store_true", help="do not draw figures")
    r.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --out folder that is not a previous result")
    r.add_argument("--report", action="store_true",
                   help="also write report.html, a self-contained HTML report (see "
                        "access-sim report)")
    r.add_argument("--quiet", action="store_true", help="no progress bar, no summary table")
    common(r)
    executor_options(r)
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser(
        "report", help="write a self-contained HTML report of a result or comparison folder",
        description="Write one HTML file that works offline (no network: the charting "
                    "library and the data are inside it). Of a result folder: the summary "
                    "tables, a zoomable map of the sites coloured by p95 latency and of the "
                    "nodes, latency CDFs overall and by region, the busiest nodes' load "
                    "and the deciding addressing levels over time with the events marked, "
                    "and the resolved scenario. Of a comparison folder (compare --out): "
                    "the scenarios side by side with intervals and significance, their "
                    "latency CDFs and a map of the per-site p95 difference to the baseline.")
    rp.add_argument("folder", type=Path, metavar="RESULT_OR_COMPARISON_DIR",
                    help="a folder written by access-sim run or access-sim compare --out")
    rp.add_argument("--out", type=Path, metavar="FILE",
                    help="the HTML file to write (default: FOLDER/report.html)")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("validate", help="check a scenario (and its topology) without running")
    v.add_argument("scenario")
    common(v)
    v.set_defaults(func=cmd_validate)

    ex = sub.add_parser(
        "explain", help="follow one login through the engine: each level, its latency",
        description="Run the scenario (its settings and seed; replication 0) until one "
                    "login has finished and print what the engine decided for it: the DNS "
                    "answer, each addressing level (probes, end-to-end ranking, sticky, "
                    "spill), the race, every connect, the node and the trip to the home "
                    "data center, and its latency in components, with the row a full run "
                    "records for the same login_id.")
    ex.add_argument("scenario", help="scenario YAML file")
    ex.add_argument("--site", metavar="NAME", help="a site of the scenario (see access-sim "
                    "sites): its first login at or after --at")
    ex.add_argument("--access", metavar="TYPE",
                    help="the terminal's access type (default: the site's most common)")
    ex.add_argument("--at", metavar="TIME",
                    help="earliest start of the login, simulated time (30s, 10m; default: "
                         "the end of the warm-up)")
    ex.add_argument("--login-id", type=int, metavar="N",
                    help="follow this login instead (its login_id in logins.csv)")
    ex.add_argument("--seed", type=int, help="override the scenario's seed")
    ex.add_argument("--format", dest="explain_format", choices=("text", "json"),
                    default="text", help="output format (default: text)")
    common(ex)
    ex.set_defaults(func=cmd_explain)

    nd = sub.add_parser(
        "nodes", help="list a scenario's nodes: place, capacity, links (no simulation)",
        description="Print the nodes of the scenario's network (its topology with the "
                    "scenario's network: edits) with the capacity a run gives them (kind "
                    "defaults, topology keys, network edits, nodes.overrides) and their "
                    "neighbours; the edit column marks nodes added or resized by network:.")
    nd.add_argument("scenario", help="scenario YAML file")
    nd.add_argument("--format", dest="table_format", choices=("table", "csv", "json"),
                    default="table", help="output format (default: table)")
    common(nd)
    nd.set_defaults(func=cmd_nodes)

    st = sub.add_parser(
        "sites", help="list a scenario's sites and their expected logins (no simulation)",
        description="Print the sites terminals log in from, largest first: place, weight "
                    "(share of the users) and the expected logins per hour at the run's "
                    "peak (the moment the total login rate is highest) and averaged over "
                    "the run, warm-up included (the logins a run simulates: of the sample, "
                    "with population.sample_one_in).")
    st.add_argument("scenario", help="scenario YAML file")
    st.add_argument("--region", choices=REGION_NAMES, help="only the sites of this region")
    st.add_argument("--top", type=int, metavar="N", help="only the N largest sites")
    st.add_argument("--format", dest="table_format", choices=("table", "csv", "json"),
                    default="table", help="output format (default: table)")
    common(st)
    st.set_defaults(func=cmd_sites)

    c = sub.add_parser(
        "compare", help="run scenarios (or read result folders) and compare them with CIs",
        description="Run each scenario with replications (or read existing result folders) "
                    "and write comparison.csv, comparison.json, comparison.md and figures: "
                    "every headline figure per scenario with its 95% confidence interval, "
                    "the difference to the first and whether it is significant (Welch's "
                    "t-test).")
    c.add_argument("inputs", nargs="+", metavar="SCENARIO_OR_RESULT",
                   help="scenario YAML files or result folders; the first is the baseline")
    c.add_argument("--out", type=Path,
                   help="output folder (default: results/compare-<first>-<second>...)")
    c.add_argument("--replications", type=int, help="override every scenario's replications")
    c.add_argument("--seed", type=int, help="override every scenario's seed")
    c.add_argument("--alpha", type=float, default=0.05,
                   help="significance level of the tests (default 0.05)")
    c.add_argument("--no-figures", action="store_true", help="do not draw figures")
    c.add_argument("--no-runs", action="store_true",
                   help="do not keep each run's result folder in OUT/runs/")
    c.add_argument("--resume", action="store_true",
                   help="reuse the runs an interrupted comparison finished (in --out/runs/)")
    c.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    c.add_argument("--site", dest="sites", action="append", default=[], metavar="CITY",
                   help="also compare this site's p50/p95/p99 (repeatable), e.g. Lagos")
    c.add_argument("--country", dest="countries", action="append", default=[],
                   metavar="CODE", help="also compare this country's p50/p95/p99 "
                                        "(repeatable), e.g. NG")
    c.add_argument("--window", dest="windows", action="append", default=[],
                   metavar="event|START-END",
                   help="also compare the figures during and outside each scheduled event "
                        "(event) or a span such as 20m-40m (repeatable)")
    common(c)
    executor_options(c)
    c.set_defaults(func=cmd_compare)

    w = sub.add_parser(
        "sweep", help="run a scenario over a grid of parameter values",
        description="Run the cartesian product of --grid values (or a sweep YAML file): one "
                    "result folder per point, named by its parameters, a combined table "
                    "(sweep.csv, sweep.json, sweep.md) and a plot of each headline figure "
                    "against each swept parameter. Points already completed with the same "
                    "resolved scenario are skipped (--force reruns them).")
    w.add_argument("scenario", help="scenario YAML file, or a sweep YAML file (with 'grid:')")
    w.add_argument("--grid", action="append", metavar="KEY.PATH=V1,V2,...",
                   help="a swept parameter and its values (repeatable)")
    w.add_argument("--out", type=Path, help="sweep folder (default: results/sweep-<name>)")
    w.add_argument("--replications", type=int, help="override the number of replications")
    w.add_argument("--seed", type=int, help="override the scenario's seed")
    w.add_argument("--force", action="store_true", help="rerun points already completed")
    w.add_argument("--resume", action="store_true",
                   help="finish an interrupted sweep: completed points are reused (the "
                        "default unless --force)")
    w.add_argument("--no-figures", action="store_true", help="do not draw figures")
    w.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    common(w)
    executor_options(w)
    w.set_defaults(func=cmd_sweep)

    pl = sub.add_parser(
        "plan", help="where to add access or cache nodes, at what cost, for what latency",
        description="Screen candidate cities for new nodes on a fast estimate (one baseline "
                    "simulation), pick up to --nodes by greedy selection and swaps, verify "
                    "the best plans by simulation with 95%% CIs, and write plan.csv, "
                    "plan.json, pareto.png, map.png and plan-1.yaml ... (scenario variants "
                    "with network: add). With --size: the fewest login workers per node "
                    "that keep the p99 queue wait under --p99-wait (see docs/planning.md).")
    pl.add_argument("scenario", help="scenario YAML file")
    pl.add_argument("--kind", choices=("access", "cache"), default="access",
                    help="kind of node to add (default access)")
    pl.add_argument("--nodes", type=int, default=3, metavar="N",
                    help="most nodes to add (default 3)")
    pl.add_argument("--candidates", type=Path, metavar="FILE",
                    help="candidate places: CSV or YAML of cities (city[,country]) or "
                         "coordinates (name,lat,lon[,region]); default: shipped cities of "
                         "--min-population without a node of --kind")
    pl.add_argument("--min-population", type=float, default=1_000_000, metavar="N",
                    help="smallest candidate city (default 1000000)")
    pl.add_argument("--costs", type=Path, metavar="FILE",
                    help="node costs per month, YAML (default: sim/data/node_costs.yaml)")
    pl.add_argument("--objective", choices=("p95", "mean"), default="p95",
                    help="latency figure to lower (default p95)")
    pl.add_argument("--scope", action="append", metavar="all|region:R|site:NAME",
                    help="logins the objective is over (repeatable; default all)")
    pl.add_argument("--target", metavar="'p95<=400ms'",
                    help="the cheapest plan meeting this instead of the best of --nodes")
    pl.add_argument("--verify", type=int, default=3, metavar="K",
                    help="plans verified by simulation (default 3)")
    pl.add_argument("--size", action="store_true",
                    help="size every node's login workers instead of adding nodes")
    pl.add_argument("--p99-wait", default="50ms", metavar="DURATION",
                    help="with --size: the p99 queue wait to stay under (default 50ms)")
    pl.add_argument("--out", type=Path, help="plan folder (default: results/plan-<scenario>)")
    pl.add_argument("--replications", type=int, help="override the number of replications")
    pl.add_argument("--seed", type=int, help="override the scenario's seed")
    pl.add_argument("--no-figures", action="store_true", help="do not draw figures")
    pl.add_argument("--overwrite", action="store_true",
                    help="replace a non-empty --out folder that is not a previous result")
    pl.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    common(pl)
    executor_options(pl)
    pl.set_defaults(func=cmd_plan)

    vl = sub.add_parser("validate-latency",
                        help="cross-validate the latency model on measured RTTs (held-out cities)")
    vl.add_argument("--data", type=Path, metavar="FOLDER",
                    help="folder with the measured RTTs, which are not part of the project: "
                         "wonderproxy_2020_pairs_train.csv and wonderproxy_2020_cities_train.csv "
                         "(WonderProxy, 'A day in the life of the Internet', 2020: public-"
                         "internet RTTs between ~185 cities) and azure_interregion_p95_train.csv "
                         "(Microsoft Learn, 'Azure network round-trip latency statistics', CC "
                         "BY 4.0: P95 RTTs between Azure regions); default: shared/data in the "
                         "folder that holds the project's folder")
    vl.add_argument("--out", type=Path, help="write the tables and figures into this folder")
    vl.add_argument("--folds", type=int, default=5, help="city folds (default 5)")
    vl.add_argument("--no-figures", action="store_true", help="do not draw figures")
    vl.set_defaults(func=cmd_validate_latency)

    s = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    s.add_argument("--out", type=Path, help="write to this file instead of stdout")
    s.set_defaults(func=cmd_schema)

    b = sub.add_parser(
        "bill", help="a month's bill and quota events, from a scenario or from daily CSV files",
        description="Print a month's bill and write bill.json, from a scenario's usage model "
                    "(access-sim bill SCENARIO --month YYYY-MM) or from measured daily usage "
                    "(access-sim bill --dau-csv FILE [--groups-csv FILE] --month YYYY-MM).")
    b.add_argument("scenario", nargs="?", help="scenario YAML file (or give --dau-csv)")
    b.add_argument("--month", metavar="YYYY-MM",
                   help="month to bill (default: the scenario's billing.month)")
    b.add_argument("--price-list", metavar="NAME|FILE",
                   help="china-cny, international-usd, overseas-cny or a price list YAML file "
                        "(default: the scenario's billing.price_list, else international-usd)")
    b.add_argument("--dau-csv", type=Path, metavar="FILE",
                   help="daily DAU, CSV with the columns date,dau (instead of a scenario)")
    b.add_argument("--groups-csv", type=Path, metavar="FILE",
                   help="daily net group count, CSV with the columns date,groups "
                        "(with --dau-csv; default: no groups)")
    b.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for bill.json (default: results/<scenario>-bill-<month>, "
                        "or the current folder for CSV input)")
    common(b)
    b.set_defaults(func=cmd_bill)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    from sim.errors import SimError  # deferred: --help stays fast

    installed, previous = False, None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        installed = True
    try:
        return int(args.func(args))
    except (SimError, _InputError) as e:
        print(_error_line(e), file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # The reader went away (``access-sim schema | head``): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt as e:
        terminated = isinstance(e, _Terminated)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except Exception:

        traceback.print_exc()
        print("internal error: this is a bug in access-sim; please report it with the "
              "traceback above", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


# ---------------------------------------------------------------------- commands


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    from sim.config import load_scenario  # deferred: --help stays fast
    from sim.config.messages import shown  # deferred: --help stays fast
    from sim.errors import SimError  # deferred: --help stays fast
    from sim.runs.prepare import prepare_world  # deferred: --help stays fast

    overrides: dict[str, Any] = _set_pairs(args.overrides)
    sources = _check_options(args)
    for key in ("seed", "replications"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if getattr(args, "format", None):
        overrides["outputs.format"] = args.format
        sources["outputs.format"] = "--format"
    path = Path(args.scenario)
    scenario = load_scenario(path, overrides, override_sources=sources)
    try:
        world = prepare_world(scenario, shown(path))
        if scenario.billing is not None and scenario.billing.month is not None:
            from sim.billing.usage import monthly_usage  # deferred: --help stays fast
            from sim.errors import BillingError  # deferred: --help stays fast

            # Check the billing section (price list, quotas) before a run, not after it.
            try:
                monthly_usage(scenario, sites=world.sites, source=world.source)
            except BillingError as e:
                if e.file is not None:
                    raise
                # An unknown built-in price list name: say where it was named.
                raise BillingError(e.message, file=world.source,
                                   path="billing.price_list") from None
    except SimError as e:
        blamed = _blamed(e, shown(path), overrides, sources)
        if blamed is e:
            raise
        raise blamed from None
    return scenario, world


def _check_options(args: argparse.Namespace) -> dict[str, str]:
    """Check --seed and --replications against the schema (an error names the option);
    returns the scenario keys they set, with the option that set them."""
    from sim.config.loading import check_option  # deferred: --help stays fast

    sources: dict[str, str] = {}
    for key in ("seed", "replications"):
        value = getattr(args, key, None)
        if value is not None:
            check_option(key, value, option=f"--{key}")
            sources[key] = f"--{key}"
    return sources


def _blamed(e: Exception, source: str, overrides: dict[str, Any],
            sources: dict[str, str]) -> Exception:
    """An error at a key an override set (``--set``, ``--seed``) names the override, not
    the scenario file."""
    from sim.errors import LocatedError  # deferred: --help stays fast

    if not (isinstance(e, LocatedError) and e.file == source and e.path):
        return e
    for key in overrides:
        if e.path == key or e.path.startswith((key + ".", key + "[")):
            name = sources.get(key, "--set")
            return type(e)(e.message, file=name, path=e.path if name == "--set" else None)
    return e


def cmd_run(args: argparse.Namespace) -> int:
    """``access-sim run``."""
    from sim.analysis.results import check_output_dir  # deferred: --help stays fast
    from sim.runs.api import run_world  # deferred: --help stays fast

    scenario, world = _load(args)
    out = args.out or Path("results") / scenario.name
    check_output_dir(out, overwrite=args.overwrite)
    bar = None if args.quiet else _progress_bar(scenario.name)
    say = _Steps(quiet=args.quiet)
    started = time.perf_counter()
    reps = scenario.replications

    def on_run_step(step: str, seconds: float) -> None:
        if step == "simulate":
            if bar is not None:
                bar.finish()
            say.line(f"{scenario.name}: 100%, simulated {reps} "
                     f"replication{'s' if reps != 1 else ''} in {seconds:.1f} s; "
                     "summarising ...")
        elif step == "summary":
            say.line(f"summarised in {seconds:.1f} s")

    try:
        with _executor(args) as executor:
            results = run_world(world, progress=bar.update_to if bar else None,
                                executor=executor, on_step=on_run_step)
    finally:
        if bar is not None:
            bar.close()
    figures = scenario.outputs.figures and not args.no_figures

    drawn = " and ".join(w for w, on in (("the figures", figures),
                                         ("the report", args.report)) if on)

    def draw(res: Any, folder: Path) -> None:
        if figures:
            from sim.views.plots import save_figures  # deferred: --help stays fast

            save_figures(res, folder,
                         on_skip=lambda name, why: say.line(f"no figures/{name}: {why}"))
        if args.report:
            # Inside the new folder before the swap: the marker lists it as the result's.
            from sim.views.html_report import REPORT_FILE, write_result_report  # deferred

            write_result_report(res, folder / REPORT_FILE)

    def on_save_step(step: str, seconds: float | None) -> None:
        if step == "extra" and not drawn:
            return
        what = "figures" if step == "extra" else step
        if seconds is None:
            say.line(f"drawing {drawn} ..." if step == "extra" else
                     f"writing {step} ({len(results.logins):,} rows) ...")
        else:
            say.line(f"{'drew ' + drawn if step == 'extra' else 'wrote ' + what} in "
                     f"{seconds:.1f} s")

    results.save(out, overwrite=args.overwrite, extra=draw, on_step=on_save_step)
    if not args.quiet:
        from sim.views.report import summary_table  # deferred: --help stays fast

        print(summary_table(results.summary))
        if "bill" in results.summary:
            from sim.billing.usage import bill_headline  # deferred: --help stays fast

            print("\n" + bill_headline(results.summary["bill"]))
        sc = results.summary.get("scenario_resolved") or {}
        print(f"\nlogins: those that started in the measurement window "
              f"({sc.get('warmup', 0):g} s to {sc.get('duration', 0):g} s); node logins: "
              "the whole run, warm-up included (summary.json: counts_include)")
        print(f"\nwrote {out}/ in {time.perf_counter() - started:.1f} s")
    if results.summary["logins"].get("all_failed"):
        print(f"warning: every login failed ({results.summary['logins']['attempted']:,} "
              "attempted): the latency figures are null; see the failed logins in "
              f"{out}/", file=sys.stderr)
    return EXIT_OK


class _Bar:
    def __init__(self, name: str):
        from tqdm import tqdm  # deferred: only a progress bar needs it

        self._bar = tqdm(total=1000, desc=name, unit="‰", delay=2.0, leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
                         file=sys.stderr)
        self._closed = False

    def update_to(self, frac: float) -> None:
        if self._closed:
            return
        self._bar.update(max(0, round(frac * 1000) - self._bar.n))
        if frac >= 1.0:
            self._bar.refresh()  # tqdm draws at most every 0.1 s: show the 100%

    def finish(self) -> None:
        """The simulation is done: show 100%, then clear the bar (a step line follows)."""
        if self._closed:
            return
        self._bar.update(self._bar.total - self._bar.n)
        self._bar.refresh()
        self._bar.close()
        self._closed = True
        if not sys.stderr.isatty():
            print(file=sys.stderr)  # no terminal to clear the bar's line: end it

    def close(self) -> None:
        if not self._closed:
            self._bar.close()
            self._closed = True


class _Steps:
    """Short lines on stderr for the steps after the simulation (summary, files, figures),
    so that no step runs silently; none with ``--quiet``."""

    def __init__(self, *, quiet: bool):
        self.quiet = quiet

    def line(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def _progress_bar(name: str) -> _Bar:
    return _Bar(name)


def _executor(args: argparse.Namespace) -> Any:
    from sim.runs.executors import make_executor  # deferred: --help stays fast

    return make_executor(args.executor, jobs=args.jobs, scheduler=args.scheduler)


def cmd_compare(args: argparse.Namespace) -> int:
    """``access-sim compare``."""
    from sim.runs.compare import compare, safe_name  # deferred: --help stays fast

    if not 0.0 < args.alpha < 1.0:
        raise _InputError(f"--alpha: expected a level between 0 and 1, got {args.alpha:g}")
    _check_options(args)
    out = args.out
    if out is None:
        stems = [Path(i).name.removesuffix(".yaml").removesuffix(".yml") for i in args.inputs]
        out = Path("results") / safe_name("compare-" + "-".join(stems[:4]))
    started = time.perf_counter()
    with _executor(args) as executor:
        cmp = compare(args.inputs, overrides=_set_pairs(args.overrides),
                      replications=args.replications, seed=args.seed, executor=executor,
                      alpha=args.alpha, progress=not args.quiet, out=out,
                      figures=not args.no_figures, save_runs=not args.no_runs,
                      resume=args.resume, sites=args.sites, countries=args.countries,
                      windows=args.windows)
    if not args.quiet:
        print(cmp.to_markdown(nodes=False))
        print(f"wrote {out}/ in {time.perf_counter() - started:.1f} s")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """``access-sim sweep``."""
    if args.resume and args.force:
        raise _InputError("--resume and --force contradict each other: --resume reuses "
                          "completed points, --force reruns them")
    from sim.runs.compare import safe_name  # deferred: --help stays fast
    from sim.runs.sweep import parse_grid, sweep  # deferred: --help stays fast

    _check_options(args)
    grid = parse_grid(args.grid or [])
    out = args.out
    if out is None:
        out = Path("results") / safe_name("sweep-" + Path(args.scenario).stem)
    started = time.perf_counter()
    with _executor(args) as executor:
        result = sweep(args.scenario, grid, out=out, overrides=_set_pairs(args.overrides),
                       replications=args.replications, seed=args.seed, force=args.force,
                       executor=executor, progress=not args.quiet,
                       figures=not args.no_figures)
    if not args.quiet:
        print(result.to_markdown())
        print(f"{len(result.ran)} point(s) run, {len(result.reused)} reused; wrote {out}/ "
              f"in {time.perf_counter() - started:.1f} s")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    """``access-sim plan``."""
    from sim.runs.compare import safe_name  # deferred: --help stays fast

    _check_options(args)
    overrides: dict[str, Any] = _set_pairs(args.overrides)
    if args.seed is not None:
        overrides["seed"] = args.seed
    stem = Path(args.scenario).name.removesuffix(".yaml").removesuffix(".yml")
    started = time.perf_counter()
    say = _Steps(quiet=args.quiet)
    if args.size:
        from sim.runs.sizing import parse_wait, size_nodes  # deferred: --help stays fast

        target_s = parse_wait(args.p99_wait)
        out = args.out or Path("results") / safe_name("size-" + stem)
        with _executor(args) as executor:
            sized = size_nodes(args.scenario, target_s, overrides=overrides,
                               replications=args.replications, executor=executor,
                               progress=not args.quiet, out=out, overwrite=args.overwrite,
                               say=say.line)
        if not args.quiet:
            print(sized.to_markdown())
            print(f"wrote {out}/ in {time.perf_counter() - started:.1f} s")
        return EXIT_OK
    from sim.runs.plan import plan  # deferred: --help stays fast

    out = args.out or Path("results") / safe_name("plan-" + stem)
    with _executor(args) as executor:
        result = plan(args.scenario, kind=args.kind, nodes=args.nodes,
                      candidates=args.candidates, min_population=args.min_population,
                      costs=args.costs, objective=args.objective,
                      scopes=args.scope or ["all"], target=args.target, verify=args.verify,
                      overrides=overrides, replications=args.replications,
                      executor=executor, progress=not args.quiet, out=out,
                      figures=not args.no_figures, overwrite=args.overwrite, say=say.line)
    if not args.quiet:
        print(result.to_markdown())
        print(f"wrote {out}/ in {time.perf_counter() - started:.1f} s")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """``access-sim validate``."""
    scenario, world = _load(args)
    kinds = world.topology.kinds
    reps = scenario.replications
    whole = _expected_logins(scenario, world) * reps
    window = _expected_logins(scenario, world, start_s=scenario.warmup) * reps
    print(f"ok: {args.scenario}: scenario {scenario.name!r}, topology {world.topology.name!r} "
          f"({kinds.count('access')} access, {kinds.count('cache')} cache, "
          f"{kinds.count('datacenter')} data centers), {len(world.sites)} sites, "
          f"about {window:,.0f} logins in the measurement window "
          f"({scenario.warmup:g} s to {scenario.duration:g} s"
          + (f", {reps} replications" if reps != 1 else "")
          + f"; {whole:,.0f} with the warm-up: what run reports as logins.attempted and "
          "logins.whole_run.attempted)")
    print(_memory_line(scenario, world, whole))
    return EXIT_OK


REGION_NAMES = ("china", "asia", "europe", "north_america", "south_america", "oceania",
                "africa")
"""sim.config.schema.REGIONS, here so that --help does not import the schema."""


def _print_rows(rows: list[dict[str, Any]], fmt: str, *, right: Sequence[str] = (),
                shown: dict[str, Any] | None = None, footer: str = "") -> None:
    """Rows as an aligned table (``shown`` formats a column's cells; ``right`` aligns to the
    right), CSV or JSON, on stdout."""
    columns = list(rows[0]) if rows else []
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if fmt == "csv":
        import csv  # deferred: --help stays fast

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if r[c] is None else ";".join(r[c]) if isinstance(r[c], list)
                           else r[c] for c in columns] for r in rows])
        return
    shown = shown or {}
    cells = [[("" if r[c] is None else shown[c](r[c]) if c in shown else str(r[c]))
              for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if c in right else v.ljust(w)
                         for v, w, c in zip(values, widths, columns)).rstrip()

    print("\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)]))
    if footer:
        print(footer)


def cmd_explain(args: argparse.Namespace) -> int:
    """``access-sim explain``."""
    from sim.config.messages import shown  # deferred: --help stays fast
    from sim.config.schema import parse_duration  # deferred: --help stays fast
    from sim.runs.explain import explain, render_json, render_text  # deferred

    at_s = None
    if args.at is not None:
        try:
            at_s = parse_duration(args.at)
        except ValueError as e:
            raise _InputError(f"--at: {e}") from None
    if args.site is None and args.login_id is None:
        raise _InputError("--site: give a site of the scenario (or --login-id N)")
    if args.login_id is not None and args.login_id < 0:
        raise _InputError(f"--login-id: must be at least 0, got {args.login_id}")
    scenario, world = _load(args)
    trace = explain(scenario, world=world, source=shown(Path(args.scenario)), site=args.site,
                    access=args.access, at_s=at_s, login_id=args.login_id)
    sys.stdout.write(render_json(trace) if args.explain_format == "json"
                     else render_text(trace, scenario))
    return EXIT_OK


def cmd_nodes(args: argparse.Namespace) -> int:
    """``access-sim nodes``."""
    from sim.model.network_edits import edited_nodes, neighbours  # deferred: --help fast
    from sim.model.world import node_settings  # deferred: --help stays fast

    scenario, world = _load(args)
    topo = world.topology
    marks = edited_nodes(scenario.network)
    rows = []
    for i, (node_id, settings) in enumerate(zip(topo.node_ids, node_settings(scenario, topo))):
        hub = topo.kinds[i] == "hub"
        node = topo.graph.nodes[node_id]
        rows.append({
            "id": node_id, "kind": topo.kinds[i], "city": node.get("city", ""),
            "country": node.get("country", ""), "region": topo.regions[i],
            "lat": round(float(topo.lat[i]), 4), "lon": round(float(topo.lon[i]), 4),
            **{key: None if hub else settings.get(key)
               for key in ("workers", "connection_limit", "service_ms")},
            "links": neighbours(topo, node_id), "edit": marks.get(node_id)})
    kinds = ", ".join(f"{topo.kinds.count(k)} {k}" for k in ("access", "cache", "datacenter",
                                                            "hub") if k in topo.kinds)
    counts = [f"{list(marks.values()).count(m)} {m}" for m in ("added", "resized")
              if m in marks.values()]
    removed = len(scenario.network.remove) if scenario.network is not None else 0
    counts += [f"{removed} removed"] if removed else []
    _print_rows(rows, args.table_format, right=("lat", "lon", "workers", "connection_limit",
                                                "service_ms"),
                shown={"lat": "{:.4f}".format, "lon": "{:.4f}".format,
                       "connection_limit": "{:,}".format, "service_ms": "{:g}".format,
                       "links": lambda v: ",".join(v) if len(v) <= 3 else
                       ",".join(v[:2]) + f",+{len(v) - 2} more"},
                footer=f"{len(rows)} nodes ({kinds}) in topology {topo.name!r}"
                       + (f"; network: {', '.join(counts)}" if counts else ""))
    return EXIT_OK


def cmd_sites(args: argparse.Namespace) -> int:
    """``access-sim sites``."""
    import numpy as np  # deferred: --help stays fast

    from sim.model.workload import Workload  # deferred: --help stays fast

    if args.top is not None and args.top < 1:
        raise _InputError(f"--top: must be at least 1, got {args.top}")
    scenario, world = _load(args)
    sites = world.sites
    wl = Workload(scenario, sites, np.random.SeedSequence(0))
    edges = wl.bin_edges()
    widths = np.diff(edges)
    rates = np.array([wl.rate_per_s((a + b) / 2) for a, b in zip(edges[:-1], edges[1:])])
    peak_bin = int(np.argmax(rates.sum(axis=1)))
    peak_h = rates[peak_bin] * 3600.0
    mean_h = (rates * widths[:, None]).sum(axis=0) / scenario.duration * 3600.0
    order = [i for i in np.argsort(-sites.weight, kind="stable").tolist()
             if args.region is None or sites.regions[i] == args.region]
    if not order:
        raise _InputError(f"--region {args.region}: the scenario has no site there")
    order = order[:args.top] if args.top is not None else order
    rows = [{"city": sites.names[i], "country": sites.countries[i], "region": sites.regions[i],
             "lat": round(float(sites.lat[i]), 4), "lon": round(float(sites.lon[i]), 4),
             "weight": float(f"{sites.weight[i]:.6g}"),
             "logins_per_h_peak": round(float(peak_h[i]), 3),
             "logins_per_h_mean": round(float(mean_h[i]), 3)} for i in order]
    peak_t = (edges[peak_bin] + edges[peak_bin + 1]) / 2
    utc = (scenario.start_utc_hour + peak_t / 3600.0) % 24.0
    share = float(sites.weight[order].sum())
    footer = (f"{len(rows)} of {len(sites)} sites ({share:.1%} of the users); the run's peak "
              f"at {peak_t:g} s ({int(utc):02d}:{int(utc % 1 * 60):02d} UTC): "
              f"{peak_h.sum():,.0f} logins/h from all sites, {mean_h.sum():,.0f} averaged "
              "over the run")
    _print_rows(rows, args.table_format, right=("lat", "lon", "weight", "logins_per_h_peak",
                                                "logins_per_h_mean"),
                shown={"lat": "{:.4f}".format, "lon": "{:.4f}".format,
                       "weight": "{:.4f}".format, "logins_per_h_peak": "{:,.1f}".format,
                       "logins_per_h_mean": "{:,.1f}".format}, footer=footer)
    return EXIT_OK


def _memory_line(scenario: Any, world: Any, expected: float) -> str:
    """``memory: about N MB ...``: what a run of the scenario will need, roughly."""
    from sim.config.limits import estimate_memory_bytes  # deferred: --help stays fast

    reps = scenario.replications
    common = dict(nodes=len(world.topology.node_ids), sites=len(world.sites),
                  logins=expected / max(1, reps), replications=reps,
                  per_login=bool(scenario.outputs.per_login))
    one = estimate_memory_bytes(**common, jobs=1) / 2 ** 20
    cores = min(reps, os.cpu_count() or 1)
    text = f"memory: about {one:,.0f} MB with --jobs 1"
    if cores > 1:
        many = estimate_memory_bytes(**common, jobs=cores) / 2 ** 20
        text += f", about {many:,.0f} MB with --jobs {cores}"
    return text + " (an estimate: the routing tables, the logins in flight and the " \
        "per-login records)"


def _expected_logins(scenario: Any, world: Any, start_s: float = 0.0) -> float:
    """Expected arrivals of one replication from ``start_s`` (0: the whole run, warm-up
    included; the warm-up: the measurement window) to the end of the arrivals."""
    import numpy as np  # deferred: --help stays fast

    from sim.model.workload import Workload  # deferred: --help stays fast

    wl = Workload(scenario, world.sites, np.random.SeedSequence(0))
    edges = wl.bin_edges()
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        lo = max(float(a), start_s)
        if b > lo:
            total += float(wl.rate_per_s((a + b) / 2).sum()) * (b - lo)
    return total


def cmd_validate_latency(args: argparse.Namespace) -> int:
    """``access-sim validate-latency``."""
    from sim.calibration.validation import validate_latency  # deferred: --help stays fast

    if args.folds < 2:
        raise _InputError(f"--folds: must be at least 2, got {args.folds}")
    _check_latency_data(args.data)
    report = validate_latency(args.data, args.out, folds=args.folds,
                              figures=not args.no_figures)
    print(report.to_markdown())
    if args.out:
        print(f"\nwrote {args.out}/")
    return EXIT_OK


LATENCY_DATA = ("wonderproxy_2020_pairs_train.csv", "wonderproxy_2020_cities_train.csv",
                "azure_interregion_p95_train.csv")
"""The files ``validate-latency`` reads (sim.calibration.validation)."""


def _check_latency_data(data: Path | None) -> None:
    """Say what ``validate-latency`` needs, and how to give it, when its data is missing
    (one line: the measured RTTs are not part of the project)."""
    from sim.calibration.validation import default_data_dir  # deferred: --help stays fast

    folder = data if data is not None else default_data_dir()
    missing = [name for name in LATENCY_DATA if not (folder / name).is_file()]
    if not missing:
        return
    shown = str(folder) if len(str(folder)) <= 40 else "..." + str(folder)[-37:]
    raise _InputError(
        "validate-latency needs measured RTTs not shipped with access-sim (see --help): "
        "wonderproxy_2020_pairs_train.csv, wonderproxy_2020_cities_train.csv, "
        f"azure_interregion_p95_train.csv; {shown} lacks {len(missing)}: pass --data FOLDER")


def cmd_report(args: argparse.Namespace) -> int:
    """``access-sim report``."""
    from sim.views.html_report import write_report  # deferred: --help stays fast

    started = time.perf_counter()
    path = write_report(args.folder, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - started:.1f} s")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """``access-sim schema``."""
    from sim.config.schema import scenario_json_schema  # deferred: --help stays fast
    from sim.analysis.results import atomic_write_text  # deferred: --help stays fast

    text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if args.out:
        from sim.errors import ResultsError  # deferred: --help stays fast

        if args.out.is_dir():
            raise ResultsError("expected a file name for the schema, found a folder",
                               file=str(args.out))
        for parent in args.out.parents:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    raise ResultsError(f"cannot write the schema: {parent} is not a folder",
                                       file=str(args.out))
                break
        try:
            atomic_write_text(args.out, text)
        except OSError as e:
            raise ResultsError(f"cannot write the schema: {e.strerror or type(e).__name__}",
                               file=str(args.out)) from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_bill(args: argparse.Namespace) -> int:
    """``access-sim bill``."""
    from sim.billing.usage import (  # deferred: --help stays fast
        monthly_usage,
        parse_month,
        usage_from_csv,
    )
    from sim.config import load_scenario  # deferred: --help stays fast
    from sim.config.messages import shown  # deferred: --help stays fast
    from sim.errors import ResultsError  # deferred: --help stays fast
    from sim.analysis.results import atomic_write_text  # deferred: --help stays fast

    csv_input = args.dau_csv is not None or args.groups_csv is not None
    if args.scenario is not None and csv_input:
        raise _InputError("give either a SCENARIO or --dau-csv (and --groups-csv), not both")
    if args.scenario is None and args.dau_csv is None:
        raise _InputError("give a SCENARIO, or --dau-csv FILE (and --groups-csv FILE) with "
                          "--month YYYY-MM" if args.groups_csv is None else
                          "--groups-csv needs --dau-csv FILE")
    month = parse_month(args.month, where="--month") if args.month is not None else None
    if csv_input:
        if args.overrides:
            raise _InputError("--set applies to a SCENARIO, not to CSV input")
        if month is None:
            raise _InputError("--month YYYY-MM is required with --dau-csv")
        usage = usage_from_csv(args.dau_csv, args.groups_csv, month, args.price_list)
        out = args.out if args.out is not None else Path(".")
    else:
        path = Path(args.scenario)
        scenario = load_scenario(path, _set_pairs(args.overrides))
        usage = monthly_usage(scenario, month, price_list=args.price_list,
                              source=shown(path))
        out = args.out if args.out is not None else \
            Path("results") / f"{scenario.name}-bill-{usage.month}"
    if out.exists() and not out.is_dir():
        raise ResultsError("exists and is not a folder", file=str(out))
    print(usage.format_report())
    target = out / "bill.json"
    try:
        atomic_write_text(target, json.dumps(usage.report(), indent=2) + "\n")
    except OSError as e:
        raise ResultsError(f"cannot write bill.json: {e.strerror or e}", file=str(out)) from None
    print(f"\nwrote {target}")
    return EXIT_OK
