"""``python -m synth.documents OUT_DIR [-n 60] [--seed 0]``: write a corpus of rendered pages with truth."""

from __future__ import annotations

import argparse

from synth.documents import KINDS, generate_corpus


def main() -> None:
    p = argparse.ArgumentParser(description="write a synthetic document corpus (PNG + JSON truth)")
    p.add_argument("out_dir")
    p.add_argument("-n", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--noisy-fraction", type=float, default=0.5)
    a = p.parse_args()
    paths = generate_corpus(a.out_dir, a.n, a.seed, kinds=a.kinds.split(","), noisy_fraction=a.noisy_fraction)
    print(f"wrote {len(paths)} pages to {a.out_dir}")


if __name__ == "__main__":
    main()
