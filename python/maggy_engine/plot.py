"""Plots of an experiment with matplotlib: the learning curves, the best
value so far, an ablation study's effects. Also `maggy-engine plot`:

    python3 -m maggy_engine.plot DIR --out FILE.png|.svg|.pdf [--what W]
"""
import argparse
import sys

from .engine import EngineError, call_json

BEST, STOPPED, FAILED, CURVE = "#d9480f", "#868e96", "#c92a2a", "#1c7ed6"


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(8, 4.5)).add_subplot()


def curves_of(history):
    """{trial: ([steps], [values])} of export's history rows."""
    curves = {}
    for row in history:
        steps, values = curves.setdefault(row["trial"], ([], []))
        steps.append(row["step"])
        values.append(row["value"])
    return curves


def plot_curves(summary, history, ax=None):
    """Metric against step, a line per trial: the best thick and on top,
    early-stopped dashed with a dot where they stopped, failed red.
    `history`: export's rows (dicts) or a DataFrame of them."""
    ax = _axes(ax)
    if hasattr(history, "to_dict"):
        history = history.to_dict("records")
    states = {t["id"]: t["state"] for t in summary["trials"]}
    best = (summary.get("best") or {}).get("trial_id")
    curves = curves_of(history)
    for trial, (steps, values) in curves.items():
        if trial == best:
            continue
        state = states.get(trial)
        style = {"EARLY_STOPPED": dict(color=STOPPED, ls="--"),
                 "FAILED": dict(color=FAILED)}.get(state, dict(color=CURVE))
        ax.plot(steps, values, lw=1, alpha=0.5, **style)
        if state == "EARLY_STOPPED":
            ax.plot(steps[-1:], values[-1:], "o", ms=3, color=STOPPED)
    if best in curves:
        steps, values = curves[best]
        ax.plot(steps, values, lw=2.5, color=BEST, label=f"best: {best}")
        ax.legend(loc="best")
    ax.set_xlabel("step")
    ax.set_ylabel(summary["metric"])
    ax.set_title(f"{summary['name']}: learning curves")
    return ax


def plot_best(summary, ax=None):
    """The best value so far against the time since the first trial
    started."""
    ax = _axes(ax)
    done = sorted((t for t in summary["trials"]
                   if t["state"] in ("FINISHED", "EARLY_STOPPED")
                   and t.get("value") is not None and t.get("ended")),
                  key=lambda t: t["ended"])
    starts = [t["started"] for t in summary["trials"] if t.get("started")]
    if done:
        t0 = min(starts + [done[0]["ended"]])
        sign = -1 if summary["direction"] == "min" else 1
        xs, ys, best = [], [], None
        for t in done:
            if best is None or sign * t["value"] > sign * best:
                best = t["value"]
            xs.append(t["ended"] - t0)
            ys.append(best)
        ax.step(xs, ys, where="post", color=BEST, lw=2)
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"best {summary['metric']} ({summary['direction']})")
    ax.set_title(f"{summary['name']}: best so far")
    return ax


def plot_ablation(summary, ax=None):
    """An ablation study: each component's effect on the metric (delta
    against the base) with its 95% confidence interval; effects within
    noise are grey."""
    study = summary.get("ablation")
    if not study:
        raise EngineError(f"{summary['name']} is not an ablation study")
    ax = _axes(ax)
    rows = [r for r in study.get("rows") or study.get("path") or []
            if r.get("delta") is not None]
    names = [str(r.get("component") or r.get("change") or r.get("step")) for r in rows]
    deltas = [r["delta"] for r in rows]
    errors = [r.get("delta_ci95") or 0 for r in rows]
    colors = [STOPPED if r.get("significant") is False else CURVE for r in rows]
    metric = study.get("metric", summary["metric"])
    if not rows:
        ax.text(0.5, 0.5, "nothing to draw: no difference was measured (did the "
                + ("first step" if "path" in study else "base") + " fail? maggy-engine show)",
                ha="center", va="center", transform=ax.transAxes)
    ax.barh(names, deltas, xerr=errors, color=colors, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel(f"effect on {metric} (delta to the step before)" if "path" in study
                  else f"effect on {metric} (delta to the base, 95% CI)")
    ax.set_title(f"{summary['name']}: ablation ({study.get('ablator', '')})")
    return ax


def figure(dir, what="all"):
    """A matplotlib figure of the experiment in `dir`: `what` is curves,
    best, ablation or all (curves and best, and the ablation when it is
    one)."""
    import matplotlib.pyplot as plt
    summary = call_json("show", dir, "--json")
    kinds = ["curves", "best"] + (["ablation"] if summary.get("ablation") else []) \
        if what == "all" else [what]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(9, 4.2 * len(kinds)),
                             squeeze=False)
    for kind, ax in zip(kinds, axes[:, 0]):
        if kind == "curves":
            plot_curves(summary, call_json("export", dir, "--history",
                                           "--format", "json"), ax)
        elif kind == "best":
            plot_best(summary, ax)
        else:
            plot_ablation(summary, ax)
    fig.tight_layout()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(prog="maggy-engine plot",
                                 description="Plot an experiment to a file.")
    ap.add_argument("dir", help="the experiment's directory")
    ap.add_argument("--out", "-o", required=True,
                    help="FILE.png, .svg or .pdf (matplotlib picks by suffix)")
    ap.add_argument("--what", choices=["all", "curves", "best", "ablation"],
                    default="all", help="which plot (default: all)")
    args = ap.parse_args(argv)
    try:
        import matplotlib
    except ImportError:
        print("maggy-engine plot: needs matplotlib (Debian: python3-matplotlib)",
              file=sys.stderr)
        return 2
    matplotlib.use("Agg")
    try:
        figure(args.dir, args.what).savefig(args.out)
    except EngineError as e:
        print(f"maggy-engine plot: {e}", file=sys.stderr)
        return 2
    print(f"maggy-engine plot: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
