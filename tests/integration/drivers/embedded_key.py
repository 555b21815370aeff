"""Driver for the embedded-Ray key test: run() starts its own local Ray.

Run with DIGESTFLOW_SECRET set and DIGESTFLOW_STORE a local directory. Prints
``RESULT {json}``: what the workers saw in their environment, the key ids of
the pickles they wrote, and whether the key appears in any job record the
GCS keeps (runtime env included).
"""

from __future__ import annotations

import json
import os


def main() -> None:
    import ray

    from runner import run, task
    from storage import open_store

    @task
    def bag(n: int) -> tuple[set[int], bool]:  # a set: stored as a pickle
        return set(range(n)), "DIGESTFLOW_SECRET" in os.environ

    secret = os.environ["DIGESTFLOW_SECRET"]
    result = run([bag.bind(3), bag.bind(4)], executor="ray")
    worker_env = [saw for _, saw in result.values]
    store = open_store(os.environ["DIGESTFLOW_STORE"], secret=secret)
    key_ids = sorted({m.summary.get("key_id") for m in store.iter_manifests()
                      if m.codec == "pickle"})
    jobs = ray._private.worker.global_worker.gcs_client.get_all_job_info()
    records = "".join(str(info) for info in jobs.values())
    out = {"worker_env": worker_env, "key_ids": key_ids, "records": len(jobs),
           "driver_runtime_env": ray.get_runtime_context().runtime_env,
           "key_in_job_records": secret in records,
           "fallback_key_file": os.path.exists(os.path.join(store.backend.root, "secret.key"))}
    print("RESULT " + json.dumps(out, default=str), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
