"""The main job: run the image pipeline three times on an embedded local Ray.

1. a cold run executes every node;
2. the same run again is served entirely from the cache;
3. one parameter changes (the mask threshold): only the nodes downstream
   of it run again;
4. the threshold moves by a hair: the masks run again but come out the
   same, so ``compose`` is reused instead of run (early cutoff).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from images import build  # noqa: E402

from runner import run  # noqa: E402


def show(title: str, result) -> None:
    print(f"\n== {title}")
    print(result.summary())
    ran = sorted(result.executed)
    print("executed:", ", ".join(ran) if ran else "nothing (every node served from the cache)")
    if result.reused:
        print("reused (inputs unchanged):", ", ".join(sorted(result.reused)))
    print("result:", result.values)


def main() -> None:
    store = os.environ.get("DIGESTFLOW_STORE", ".digestflow-demo")
    t0 = time.time()
    first = run(build()[0], store=store)
    show(f"run 1 (store {store})", first)
    second = run(build()[0], store=store)
    show("run 2: same pipeline", second)
    third = run(build(threshold=0.6)[0], store=store)
    show("run 3: threshold 0.5 -> 0.6", third)
    fourth = run(build(threshold=0.6000001)[0], store=store)
    show("run 4: threshold 0.6 -> 0.6000001 (the masks come out the same)", fourth)
    print(f"\ntotal {time.time() - t0:.1f} s (including Ray start-up)")
    if second.executed or not all(n.startswith(("mask", "compose")) for n in third.executed) \
            or fourth.reused != ["compose-1"]:
        sys.exit("unexpected: the cache did not serve what it should")


if __name__ == "__main__":
    main()
