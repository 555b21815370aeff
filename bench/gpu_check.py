"""GPU check, a few minutes on a machine with a CUDA device; a clear skip without one.

1. keys + storage: a CUDA bfloat16 tensor gets the same key as its host copy
   (the device is not part of a key), is stored, and reads back onto the GPU
   with the same dtype, shape and bits.
2. Ray: a ``num_gpus=1`` Ray task, and a digestflow ``@task(num_gpus=1)`` run on
   Ray, each report that they saw a CUDA device.
3. Timing: reading a 1 GiB stored bf16 tensor onto the GPU (verified and
   unverified, and a plain ``.to()`` of the mapped tensor), against a plain
   host-to-device copy of the same bytes measured in the same run.
4. The pinned staging copy gives the same bits for a size that is not a whole
   number of staging buffers.
5. A GPU task's CUDA output reaches its child on CUDA both when the parent ran
   just now and when it was served from the cache, on Ray and inline.

    .venv/bin/python bench/gpu_check.py [--gib 1.0] [--no-ray]

Exit status: 0 when every check passed or everything was skipped (no CUDA),
1 when a check failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keys  # noqa: E402
from runner import run, task  # noqa: E402
from storage import open_store  # noqa: E402


def cuda_or_skip() -> Any:
    """torch when a CUDA device is usable; otherwise print why and exit 0."""
    try:
        import torch
    except ImportError:
        print("SKIP: torch is not installed; nothing checked (pip install torch with CUDA)")
        raise SystemExit(0) from None
    if not torch.cuda.is_available():
        print(f"SKIP: no CUDA device (torch {torch.__version__}, "
              f"CUDA build {torch.version.cuda or 'none'}); nothing checked")
        raise SystemExit(0)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.device_count()} device(s): {torch.cuda.get_device_name(0)}")
    return torch


def check_keys_and_storage(torch: Any, store: Any) -> None:
    t = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
    key = keys.digest(t)
    assert key == keys.digest(t.cpu()), "a CUDA tensor and its host copy got different keys"
    assert key != keys.digest(t.float()), "bf16 and float32 tensors got the same key"
    manifest = store.put(key, 0, t, task="gpu_check")
    back = store.get(key, 0, device="cuda")
    assert back.is_cuda, f"read back onto {back.device}, not CUDA"
    assert back.dtype == torch.bfloat16 and back.shape == t.shape, (back.dtype, back.shape)
    assert torch.equal(back.view(torch.int16), t.view(torch.int16)), "bits differ after a round trip"
    print(f"[1] ok: CUDA bf16 {tuple(t.shape)} keyed {key.hex()[:12]} (same as its host copy), "
          f"stored as {manifest.codec} ({manifest.nbytes:,} bytes), read back on {back.device} "
          "with the same bits")


@task(num_gpus=1)
def saw_gpu(tag: str) -> str:
    import torch

    if not torch.cuda.is_available():
        return f"{tag}: no CUDA device visible"
    return f"{tag}: {torch.cuda.get_device_name(0)}"


@task(num_gpus=1)
def cuda_ones(n: int) -> Any:
    import torch

    return torch.ones(n, device="cuda")


@task(num_gpus=1)
def input_device(x: Any, salt: int) -> str:
    return str(x.device)


def check_input_device(store_uri: str) -> None:
    """A GPU task's CUDA output reaches its child on CUDA whether the parent ran just now
    (the live value) or was served from the cache (read back as stored)."""
    for executor in ("ray", "inline"):
        n = 3 if executor == "ray" else 4
        live = run(input_device.bind(cuda_ones.bind(n), 1), store=store_uri, executor=executor)
        cached = run(input_device.bind(cuda_ones.bind(n), 2), store=store_uri, executor=executor)
        assert cached.by_id()["cuda_ones-1"].status == "cached", cached.by_id()["cuda_ones-1"]
        assert live.values.startswith("cuda") and cached.values.startswith("cuda"), (
            f"{executor}: a live input was on {live.values}, a cached one on {cached.values}")
    print("[5] ok: a GPU task's CUDA output reached its child on CUDA both live and from the "
          "cache, on Ray and inline")


def check_ray(torch: Any, store_uri: str) -> None:
    import ray

    ray.init(address="local", include_dashboard=False, object_store_memory=2 * 2**30)
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        assert gpus >= 1, f"Ray found no GPU on this machine (resources: {ray.cluster_resources()})"

        @ray.remote(num_gpus=1)
        def probe() -> tuple[list[Any], bool, str]:
            import torch

            name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
            return ray.get_gpu_ids(), torch.cuda.is_available(), name

        ids, available, name = ray.get(probe.remote())
        assert ids and available, f"a num_gpus=1 Ray task saw gpu ids {ids}, CUDA {available}"
        result = run(saw_gpu.bind("digestflow"), store=store_uri)
        value = result.values
        assert "no CUDA" not in value, value
        print(f"[2] ok: Ray has {gpus:g} GPU(s); a num_gpus=1 Ray task saw ids {ids} ({name}); "
              f"a digestflow @task(num_gpus=1) saw '{value}'")
        check_input_device(store_uri)
    finally:
        ray.shutdown()


def time_read(torch: Any, store: Any, gib: float) -> None:
    n = int(gib * 2**30) // 2
    t = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    key = keys.digest(("gpu_check", n))  # not a digest of t: that is not what we time
    t0 = time.perf_counter()
    store.put(key, 0, t, task="gpu_check")
    write = time.perf_counter() - t0
    host = t.cpu()
    del t
    torch.cuda.empty_cache()

    def timed(fn: Any) -> float:
        best = float("inf")
        for _ in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = fn()
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
            del out
            torch.cuda.empty_cache()
        return best

    plain = timed(lambda: host.to("cuda"))
    pinned = host.pin_memory()
    fast = timed(lambda: pinned.to("cuda", non_blocking=True))
    verified = timed(lambda: store.get(key, 0, device="cuda", verify="always"))
    unverified = timed(lambda: store.get(key, 0, device="cuda", verify="never"))
    mapped = timed(lambda: store.get(key, 0, verify="never").to("cuda"))
    gb = n * 2 / 1e9
    print(f"[3] {n * 2 / 2**30:.2f} GiB bf16 stored in {write:.2f} s; read onto the GPU, best of "
          f"3: verified {verified:.3f} s ({gb / verified:.2f} GB/s), unverified {unverified:.3f} s "
          f"({gb / unverified:.2f} GB/s; a plain .to() of the mapped tensor: {mapped:.3f} s, "
          f"{gb / mapped:.2f} GB/s, {mapped / unverified:.2f}x); baseline host->GPU copy of the "
          f"same bytes: pageable {plain:.3f} s ({gb / plain:.2f} GB/s), pinned {fast:.3f} s "
          f"({gb / fast:.2f} GB/s)")


def check_staged_copy(torch: Any, store: Any) -> None:
    """The pinned staging path gives the same bits as a plain copy, for a size that is
    not a whole number of staging buffers."""
    from storage.codecs.torch_tensor import STAGE_BYTES

    n = (2 * STAGE_BYTES + 12_346) // 2
    t = torch.randn(n, dtype=torch.float32).to(torch.bfloat16).reshape(-1, 1)
    key = keys.digest(("gpu_check staged", n))
    store.put(key, 0, t, task="gpu_check")
    back = store.get(key, 0, device="cuda")
    assert back.is_cuda and back.dtype == torch.bfloat16 and back.shape == t.shape
    assert torch.equal(back.cpu().view(torch.int16), t.view(torch.int16)), "staged bits differ"
    print(f"[4] ok: a {n * 2:,}-byte bf16 tensor (2 staging buffers + 12,346 bytes) read onto "
          "the GPU through the pinned staging buffers with the same bits")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of the timed tensor")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray checks")
    args = parser.parse_args()
    torch = cuda_or_skip()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        store = open_store(os.path.join(tmp, "store"))
        try:
            check_keys_and_storage(torch, store)
            if not args.no_ray:
                check_ray(torch, store.uri)
            check_staged_copy(torch, store)
            time_read(torch, store, args.gib)
        except AssertionError as err:
            print(f"FAILED: {err}")
            return 1
    print(f"all checks passed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
