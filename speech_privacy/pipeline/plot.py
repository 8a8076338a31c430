"""The privacy/utility figure of a training run."""

from __future__ import annotations


def plot_curve(results: dict) -> bytes:
    """PNG bytes: intent accuracy (utility) and attacker WER (privacy) against mask ratio."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_u, ax_p) = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"random_mask": ("tab:gray", "Random"), "mask_generator_s": ("tab:blue", "S"),
              "mask_generator_m": ("tab:orange", "M")}
    for name, (colour, label) in styles.items():
        points = sorted((p for p in results["curve"] if p["masker"] == name),
                        key=lambda p: p["mask_ratio"])
        trained = results["maskers"].get(name)
        if not points and not trained:
            continue
        xs = [0.0] + [p["mask_ratio"] for p in points]
        ax_u.plot(xs, [results["unmasked"]["intent_accuracy"]]
                  + [p["intent_accuracy"] for p in points], "o-", color=colour, label=label)
        ax_p.plot(xs, [results["unmasked"]["wer_asr"]] + [p["wer_adaptive"] for p in points],
                  "o-", color=colour, label=f"{label}, adaptive ASR")
        ax_p.plot(xs, [results["unmasked"]["wer_asr"]] + [p["wer_asr"] for p in points],
                  "o--", color=colour, alpha=0.5, label=f"{label}, clean ASR")
        if trained:
            ax_u.plot(trained["mask_ratio"], trained["intent_accuracy"], "*", ms=14,
                      color=colour)
            ax_p.plot(trained["mask_ratio"], trained["wer_adaptive"], "*", ms=14, color=colour)
    ax_u.set(xlabel="mask ratio (segments zeroed)", ylabel="intent accuracy (cloud SLU)",
             title="utility", ylim=(0, 1.02))
    ax_p.set(xlabel="mask ratio (segments zeroed)", ylabel="word error rate",
             title="content privacy")
    ax_p.axhline(0.75, color="k", lw=0.5, ls=":")
    oracle = results["unmasked"].get("wer_intent_oracle")
    if oracle is not None:
        ax_p.axhline(oracle, color="tab:red", lw=0.8, ls="--",
                     label="knows the intent, guesses the wording")
    for ax in (ax_u, ax_p):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"SILENCE masking on {results['corpus']['name']} "
                 f"({results['corpus']['test']} test clips); stars: trained generators")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
