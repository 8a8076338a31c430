"""The privacy/utility figure of a training run: each trained masker at its measured mask
ratio, the curve's points, the unmasked and chance lines, and the run's corpus in the title."""

from __future__ import annotations

STYLES = {"random": ("tab:gray", "Random"), "S": ("tab:blue", "S generator"),
          "M": ("tab:orange", "M generator")}


def plot_curve(results: dict) -> bytes:
    """PNG bytes: intent accuracy (utility) and adaptive-attacker WER (privacy) against the
    mask ratio."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_u, ax_p) = plt.subplots(1, 2, figsize=(11, 4.5))
    none = results["maskers"]["none"]
    for name, (colour, label) in STYLES.items():
        points = sorted((p for p in results["curve"] if p["masker"] == name),
                        key=lambda p: p["mask_ratio"])
        if points:
            xs = [p["mask_ratio"] for p in points]
            ax_u.plot(xs, [p["intent_acc"] for p in points], "o-", color=colour,
                      label=f"{label}, curve")
            ax_p.plot(xs, [p["wer_adaptive"] for p in points], "o-", color=colour,
                      label=f"{label}, curve (adaptive ASR)")
        trained = results["maskers"].get(name)
        if trained:
            ax_u.plot(trained["mask_ratio"], trained["intent_acc"], "*", ms=14, color=colour,
                      label=f"{label}, trained operating point")
            ax_p.plot(trained["mask_ratio"], trained["wer_adaptive"], "*", ms=14, color=colour,
                      label=f"{label}, trained (adaptive ASR)")
            ax_p.plot(trained["mask_ratio"], trained["wer_passive"], "x", ms=9, color=colour,
                      label=f"{label}, trained (passive ASR)")
    chance = 1.0 / max(1, results["corpus"]["intents"])
    ax_u.axhline(none["intent_acc"], color="k", lw=0.8, ls="--", label="unmasked")
    ax_u.axhline(chance, color="tab:red", lw=0.8, ls=":", label="chance")
    ax_p.axhline(none["wer_adaptive"], color="k", lw=0.8, ls="--", label="unmasked (adaptive)")
    oracle = results["reference"]["wer_intent_oracle"]
    ax_p.axhline(oracle, color="tab:red", lw=0.8, ls=":",
                 label="knows the intent, guesses the wording")
    ax_u.set(xlabel="mask ratio (segments zeroed)", ylabel="intent accuracy (cloud SLU)",
             title="utility", ylim=(0, 1.02))
    ax_p.set(xlabel="mask ratio (segments zeroed)", ylabel="word error rate",
             title="content privacy", ylim=(0, None))
    for ax in (ax_u, ax_p):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    c = results["corpus"]
    fig.suptitle(f"SILENCE masking on the {c['name']} corpus ({c['test']} test clips)"
                 + (" -- QUICK smoke run, figures mean little" if results.get("quick") else ""))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
