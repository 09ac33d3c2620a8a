"""Merge bench/results/py*.json into bench/results.json, bench/results.md and bench/results.png.

    python bench/report.py [--results-dir bench/results] [--out bench]

results.json is {"runs": [<per-version object>, ...]} sorted by Python version; each per-version
object is exactly what bench/bench.py wrote ({"python", "cases", "ratios", "targets", ...}), plus
"instructions": the instruction-count pass of that version (pyX.Y.instructions.json, written by
`bench.py --instructions` under callgrind: the same layout, values in instructions per operation)
when there is one.  A version with only an instruction pass gets a run without wall-clock cases.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import CASE_TITLES, IMPL_LABELS, IMPL_ORDER, RUST_CASES, RUST_ORDER, UNITS  # noqa: E402

TABLE_CASES = ["step_await", "step_await_pyloop", "step_iter", "create_complete",
               "create_complete_none", "bytes_suspended", "async_for", "await_chain_100",
               "await_chain_10"]
IR_LOOP_CASES = ["wake_roundtrip", "wake_pingpong", "blocking_work", "blocking_batch"]
IR_LOOP_IMPLS = ["gocoro", "call_soon_threadsafe", "loop_thread", "run_in_executor"]
CHART_CASES = ["step_await", "step_iter", "create_complete", "create_complete_none",
               "bytes_suspended"]
# event-loop cases: (case, baseline impl, informational floor impl or None)
LOOP_CASES = [("wake_roundtrip", "call_soon_threadsafe", "loop_thread"),
              ("wake_pingpong", "call_soon_threadsafe", None),
              ("blocking_work", "run_in_executor", None),
              ("blocking_batch", "run_in_executor", None)]
LOOP_SHORT = {"wake_roundtrip": "wake, 1 thread\nwakes N tasks",
              "wake_pingpong": "wake round trip,\none at a time",
              "blocking_work": "blocking no-op,\nsequential",
              "blocking_batch": "blocking no-op,\n100 in flight"}
COLORS = {"gocoro": "#0b7285", "native": "#868e96", "gen": "#ced4da", "climit": "#2b8a3e",
          "cython": "#e8590c", "pyo3": "#c92a2a"}


def vkey(run):
    return tuple(int(x) for x in run["python_short"].split("."))


def load_runs(results_dir):
    runs, instr = {}, {}
    for path in sorted(glob.glob(os.path.join(results_dir, "py*.json"))):
        with open(path) as f:
            data = json.load(f)
        (instr if path.endswith(".instructions.json") else runs)[data["python_short"]] = data
    for v, data in instr.items():
        run = runs.setdefault(v, {"python": data["python"], "python_short": v, "cases": {},
                                  "targets": [], "impls": data.get("impls", {}),
                                  "no_wallclock": True})
        run["instructions"] = data
    return sorted(runs.values(), key=vkey)


def fmt(v, unit):
    if v is None:
        return "–"
    if unit.startswith("bytes"):
        return "%.0f" % v
    if v < 10:
        return "%.2f" % v
    if v < 100:
        return "%.1f" % v
    return "%.0f" % v


def run_header(run):
    kind = "quick run (`--quick`)" if run.get("quick") else "full run"
    p = run.get("params", {})
    git = (", git %s" % run["git"]) if run.get("git") else ""
    m = run.get("machine", {})
    return ("#### CPython %s — %s, %s%s\n\n%s of %s interleaved repeats of ~%s ms each, %s "
            "suspensions per object in the step cases; %s, %s CPUs; the benchmark process ran "
            "%.0f s.\n" % (
                run["python"], kind, run.get("timestamp", "?"), git,
                {"min": "Minimum", "median": "Median"}.get(p.get("statistic"), "?"),
                p.get("repeats", "?"),
                p.get("target_ms", "?"), p.get("nsteps", "?"), m.get("cpu", "?"),
                m.get("cpus", "?"), run.get("duration_s", 0)))


def values_table(run, case_list=TABLE_CASES, impls=IMPL_ORDER, units=None):
    units = units or UNITS
    rows = []
    for case in case_list:
        vals = run["cases"].get(case)
        if not vals:
            continue
        cells = []
        for k in impls:
            v = vals.get(k)
            s = fmt(v, units.get(case, UNITS[case]))
            if k in ("gocoro", "gocoro_rs") and v is not None:
                s = "**%s**" % s
            cells.append(s)
        rows.append("| %s | %s | %s |" % (CASE_TITLES[case], units.get(case, UNITS[case]),
                                          " | ".join(cells)))
    if not rows:
        return ""
    lines = ["| case | unit | " + " | ".join(IMPL_LABELS.get(k, k) for k in impls) + " |",
             "|---|---|" + "---:|" * len(impls)]
    return "\n".join(lines + rows) + "\n"


def rust_table(run, units=None):
    return values_table(run, RUST_CASES, RUST_ORDER, units)


def rust_ratios(run):
    rows = []
    for case in RUST_CASES:
        r = run.get("ratios", {}).get(case)
        if r:
            rows.append("| %s | %s | %s |" % (CASE_TITLES[case], *(
                ("%.1fx" % r[p]) if p in r else "–"
                for p in ("pyo3/gocoro_rs", "pyo3_art/gocoro_rs"))))
    if not rows:
        return ""
    return "\n".join(["| case | PyO3 experimental-async / gocoro crate | pyo3-async-runtimes / "
                      "gocoro crate |", "|---|---:|---:|"] + rows) + "\n"


def instructions_section(run):
    ir = run.get("instructions")
    if not ir:
        return ""
    units = ir.get("units", {})
    out = ["##### Instructions per operation (callgrind), CPython %s — %s%s\n" % (
        ir["python"], ir.get("timestamp", "?"), (", git %s" % ir["git"]) if ir.get("git") else ""),
        "%s.  %s\n" % (ir.get("method", ""), ir.get("valgrind", ""))]
    out.append(values_table(ir, TABLE_CASES, IMPL_ORDER, units))
    rt = ratios_table(ir)
    if rt:
        out.append("Instruction ratios (gocoro / anchor):\n")
        out.append(rt)
    lt = values_table(ir, IR_LOOP_CASES, IR_LOOP_IMPLS, units)
    if lt:
        out.append("Event-loop cases, every thread's user-space instructions (system calls and "
                   "thread switches are not counted, so these understate the cross-thread "
                   "baselines):\n")
        out.append(lt)
    rt = rust_table(ir, units)
    if rt:
        out.append("Rust cases (instructions, every thread):\n")
        out.append(rt)
        rr = rust_ratios(ir)
        if rr:
            out.append(rr)
    miss = ["- %s missing: %s" % (IMPL_LABELS.get(k, k), i["reason"])
            for k, i in ir.get("impls", {}).items() if not i.get("available")]
    if miss:
        out.append("\n".join(miss) + "\n")
    return "\n".join(out)


def loop_table(run):
    lines = ["| event-loop case | unit | asyncio baseline | gocoro | baseline / gocoro |",
             "|---|---|---|---:|---:|"]
    n = 0
    for case, base, floor in LOOP_CASES:
        vals = run["cases"].get(case)
        if not vals:
            continue
        n += 1
        g, b = vals.get("gocoro"), vals.get(base)
        btxt = "`%s` %s" % (base, fmt(b, UNITS[case]))
        if floor and vals.get(floor) is not None:
            btxt += " (floor, `%s`: %s)" % (floor, fmt(vals[floor], UNITS[case]))
        if g is None:
            why = run.get("stats", {}).get(case, {}).get("gocoro", {}).get("pending") or "pending"
            gtxt, rtxt = "*%s*" % why, "–"
        else:
            gtxt, rtxt = "**%s**" % fmt(g, UNITS[case]), "%.2fx" % (b / g) if g else "–"
            net = run.get("ratios", {}).get(case, {}).get("net_above_floor", "absent")
            if net != "absent":
                rtxt += " (above the floor: %s)" % ("%.2fx" % net if net else "n/a, gocoro at or below floor")
        lines.append("| %s | %s | %s | %s | %s |" % (CASE_TITLES[case], UNITS[case], btxt, gtxt,
                                                     rtxt))
    return "\n".join(lines) + "\n" if n else ""


def ratios_table(run):
    rows = []
    pairs = ["gocoro/native", "gocoro/gen", "gocoro/climit", "gocoro/cython", "gocoro/pyo3"]
    lines = ["| case | " + " | ".join(pairs) + " |", "|---|" + "---:|" * len(pairs)]
    for case in TABLE_CASES:
        r = run.get("ratios", {}).get(case)
        if not r:
            continue
        rows.append("| %s | %s |" % (CASE_TITLES[case], " | ".join(
            ("%.2fx" % r[p]) if p in r else "–" for p in pairs)))
    if not rows:
        return ""
    return "\n".join(lines + rows) + "\n"


def status_cell(t):
    if t["status"] == "met":
        return "met (%.2f)" % t["value"]
    if t["status"] == "missed":
        return "**MISSED** (%.2f)" % t["value"]
    return "pending"


def targets_table(runs):
    """One row per target; per version a wall-clock column and an instruction-count column."""
    names = []
    for run in runs:
        for t in run.get("targets", []) + run.get("instructions", {}).get("targets", []):
            if t["target"] not in names:
                names.append(t["target"])
    hdr = "| target (ratio) | " + " | ".join(
        "%s time%s | %s instr" % (r["python_short"], " (quick)" if r.get("quick") else "",
                                  r["python_short"]) for r in runs) + " |"
    lines = [hdr, "|---|" + "---|---|" * len(runs)]
    for name in names:
        cells, ratio = [], ""
        for run in runs:
            for src in (run.get("targets", []), run.get("instructions", {}).get("targets", [])):
                t = next((t for t in src if t["target"] == name), None)
                if t:
                    ratio = t["ratio"]
                cells.append(status_cell(t) if t else "–")
        lines.append("| %s (`%s`) | %s |" % (name, ratio, " | ".join(cells)))
    return "\n".join(lines) + "\n"


def write_md(runs, path):
    out = ["<!-- generated by bench/report.py from bench/results/py*.json: do not edit -->",
           "### Benchmark results", "",
           "Lower is better for every value (ns per step / per create+await+complete, bytes per "
           "suspended object).  Ratios in the targets table are gocoro divided by the anchor "
           "(or anchor / gocoro for \"x faster\" targets).  *time*: wall-clock, minimum of "
           "interleaved repeats; *instr*: callgrind instructions per operation (exact, "
           "independent of machine load; user space only).  How each case is measured: "
           "[bench/README.md](README.md).", "",
           "#### Targets", "", targets_table(runs)]
    for run in runs:
        if run.get("no_wallclock"):
            out.append("#### CPython %s — no wall-clock run recorded\n" % run["python"])
            out.append(instructions_section(run))
            continue
        out.append(run_header(run))
        out.append(values_table(run))
        rt = rust_table(run)
        if rt:
            out.append(rt)
            rr = rust_ratios(run)
            if rr:
                out.append(rr)
        rt = ratios_table(run)
        if rt:
            out.append("Ratios (gocoro / anchor):\n")
            out.append(rt)
        lt = loop_table(run)
        if lt:
            out.append(lt)
        extra = []
        miss = ["- %s missing: %s" % (IMPL_LABELS.get(k, k), i["reason"])
                for k, i in run.get("impls", {}).items() if not i.get("available")]
        notes = ["- note: %s" % n for n in run.get("notes", [])]
        if extra or miss or notes:
            out.append("\n".join(extra + miss + notes) + "\n")
        isec = instructions_section(run)
        if isec:
            out.append(isec)
    with open(path, "w") as f:
        f.write("\n".join(out))


def write_png(runs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        print("report: matplotlib unavailable (%s); skipping %s" % (exc, path), file=sys.stderr)
        return False
    runs = [r for r in runs if not r.get("no_wallclock")]
    if not runs:
        return False
    fig, axes = plt.subplots(2, 3, figsize=(19, 10))
    versions = [r["python_short"] + (" (quick)" if r.get("quick") else "") for r in runs]
    ticks = ["CPython " + r["python_short"] + ("\n--quick" if r.get("quick") else "") for r in runs]
    impls = [k for k in IMPL_ORDER if any(r["cases"].get(c, {}).get(k) is not None
                                          for r in runs for c in CHART_CASES)]
    width = 0.8 / max(1, len(impls))
    for ax, case in zip(list(axes.flat)[:len(CHART_CASES)], CHART_CASES):
        top = 0.0
        for i, k in enumerate(impls):
            xs, ys = [], []
            for j, run in enumerate(runs):
                v = run["cases"].get(case, {}).get(k)
                if v is not None:
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(v)
                    top = max(top, v)
            bars = ax.bar(xs, ys, width * 0.92, label=IMPL_LABELS[k], color=COLORS.get(k),
                          edgecolor="black" if k == "gocoro" else "none", linewidth=1.2)
            for b, y in zip(bars, ys):
                ax.annotate(fmt(y, UNITS[case]), (b.get_x() + b.get_width() / 2, y),
                            xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7.5, rotation=90 if len(runs) > 2 else 0)
        ax.set_title("%s\n[%s]" % (CASE_TITLES[case], UNITS[case]), fontsize=11)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels(ticks)
        ax.set_ylim(0, top * (1.25 if len(runs) <= 2 else 1.35) or 1)
        ax.set_ylabel(UNITS[case])
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    loop_panel(list(axes.flat)[len(CHART_CASES)], runs, versions)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(impls), frameon=False, fontsize=10)
    stat = "/".join(sorted({r.get("params", {}).get("statistic", "?") for r in runs}))
    fig.suptitle("gocoro vs anchors (lower is better except the last panel; %s of "
                 "interleaved repeats)" % stat,
                 fontsize=13)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def loop_panel(ax, runs, versions):
    """baseline / gocoro speed-up per event-loop case, one bar per Python version."""
    cases = [c for c, _, _ in LOOP_CASES]
    keep = [j for j, run in enumerate(runs)
            if any(run["cases"].get(c, {}).get("gocoro") for c in cases)]
    runs = [runs[j] for j in keep]
    versions = [versions[j] for j in keep]
    width = 0.8 / max(1, len(runs))
    any_bar = False
    for j, run in enumerate(runs):
        xs, ys = [], []
        for i, (case, base, _) in enumerate(LOOP_CASES):
            vals = run["cases"].get(case, {})
            g, b = vals.get("gocoro"), vals.get(base)
            if g and b:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(b / g)
        if xs:
            any_bar = True
            palette = ["#0b7285", "#5f3dc4", "#e67700", "#2b8a3e", "#c2255c", "#495057"]
            bars = ax.bar(xs, ys, width * 0.92, color=palette[j % len(palette)],
                          label="CPython " + versions[j])
            for bar, y in zip(bars, ys):
                ax.annotate("%.1fx" % y, (bar.get_x() + bar.get_width() / 2, y), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(5.0, color="#c92a2a", linewidth=1, linestyle="--")
    ax.annotate("wake target 5x", (1.0, 5.0), xytext=(0, 3), textcoords="offset points",
                ha="center", fontsize=8, color="#c92a2a")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([LOOP_SHORT[c] for c in cases], fontsize=8.5)
    ax.set_title("event loop: asyncio baseline time / gocoro time\n[x faster, higher is better]",
                 fontsize=11)
    ax.set_xlim(-0.6, len(cases) - 0.4)
    top = max([5.5] + [b.get_height() for b in ax.patches])
    ax.set_ylim(0, top * 1.2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if any_bar and len(runs) > 1:
        ax.legend(fontsize=8, loc="upper left")
    if not any_bar:
        ax.text(0.5, 0.5, "gocoro waker/executor cases pending", transform=ax.transAxes,
                ha="center", va="center", fontsize=11, color="#868e96")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--out", default=HERE, help="directory for results.{json,md,png}")
    args = ap.parse_args()
    runs = load_runs(args.results_dir)
    if not runs:
        print("report: no results in %s" % args.results_dir, file=sys.stderr)
        return 1
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"runs": runs}, f, indent=1)
        f.write("\n")
    write_md(runs, os.path.join(args.out, "results.md"))
    write_png(runs, os.path.join(args.out, "results.png"))
    print("report: %d run(s) (%s) -> %s/results.{json,md,png}" % (
        len(runs), ", ".join(r["python_short"] for r in runs), os.path.relpath(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
