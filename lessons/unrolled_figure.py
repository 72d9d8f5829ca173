"""The paper's Fig. 3 drawn with matplotlib: a network unrolled over time steps (used by lessons 03 and 08).

Each column is one time step, each row one level of the network (frame, stem, the
residual units, the classifier). Black arrows carry a step's own signal upwards; red
arrows are temporal skips, from a unit's input at step t-1 into the unit at step t.
"""
import matplotlib

matplotlib.use("Agg")  # draw into files, no window
import matplotlib.pyplot as plt  # noqa: E402


def draw_unrolled(path, levels, steps, skips, computed=None, title=""):
    """Write the unrolled graph to the PNG ``path``; return the number of temporal-skip arrows drawn.

    levels: names from the bottom (the frame) to the top (the classifier).
    steps: labels of the time steps, oldest first.
    skips: the levels that have a temporal skip (a skip into level l starts at level l-1 one step back).
    computed: the set of (level, step) index pairs that are evaluated; the others are drawn
        grey and dashed. None means every node is evaluated.
    """
    def is_computed(level, step):
        return computed is None or (level, step) in computed

    fig, ax = plt.subplots(figsize=(2.1 * len(steps) + 1.6, 0.55 * len(levels) + 1.4))
    box = dict(boxstyle="round,pad=0.3", linewidth=1)
    for s in range(len(steps)):
        for level, name in enumerate(levels):
            live = is_computed(level, s)
            ax.text(s, level, name, ha="center", va="center", fontsize=8, zorder=3,
                    color="black" if live else "0.6",
                    bbox=dict(box, facecolor="#cfe3ff" if live else "white",
                              edgecolor="#1f4e9a" if live else "0.7", linestyle="-" if live else "--"))
    arrows = 0
    for s in range(len(steps)):
        for level in range(1, len(levels)):
            live = is_computed(level, s)
            ax.annotate("", xy=(s, level - 0.28), xytext=(s, level - 0.72), zorder=2,
                        arrowprops=dict(arrowstyle="->", color="black" if live else "0.75",
                                        linestyle="-" if live else "--"))
            if levels[level] in skips and s > 0:
                live = is_computed(level, s)
                ax.annotate("", xy=(s - 0.2, level - 0.1), xytext=(s - 1 + 0.2, level - 0.9), zorder=2,
                            arrowprops=dict(arrowstyle="->", color="red" if live else "#f4b6b6", linewidth=1.8,
                                            linestyle="-" if live else "--"))
                arrows += 1
    ax.set_xticks(range(len(steps)), [f"step {label}" for label in steps])
    ax.set_yticks([])
    ax.set_xlim(-0.7, len(steps) - 0.3)
    ax.set_ylim(-0.7, len(levels) - 0.3)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title + "\na box is that level's output; a red arrow carries a unit's input at step t-1 "
                 "into its sum at step t", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return arrows
