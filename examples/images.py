"""An image-style tensor pipeline: generate -> resize -> denoise (GPU) -> mask -> compose.

``denoise`` asks for a GPU; it uses torch when installed, numpy otherwise.
On a laptop without a GPU, digestflow's embedded Ray runs it on the CPU.

    digestflow run examples/images.py          # runs TARGETS
    digestflow run examples/images.py:masks    # just the masks
"""

from __future__ import annotations

import numpy as np

from runner import task


@task
def generate(seed: int, size: int = 256) -> np.ndarray:
    """A synthetic grey image: smooth blobs plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    blobs = sum(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.01) for cx, cy in rng.random((5, 2)))
    return (blobs + 0.3 * rng.standard_normal((size, size))).astype(np.float32)


@task
def resize(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Downsample by averaging factor x factor blocks."""
    h, w = (s - s % factor for s in image.shape)
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3)).astype(np.float32)


@task(num_gpus=1, version="1")
def denoise(image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """A Gaussian blur, on the GPU with torch when there is one."""
    try:
        import torch
    except ImportError:
        return _blur_numpy(image, strength)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    kernel = torch.tensor(_gauss(strength), device=device)
    t = torch.from_numpy(np.array(image, dtype=np.float32)).to(device)[None, None]
    k = len(kernel)
    t = torch.nn.functional.conv2d(t, kernel.view(1, 1, 1, k), padding=(0, k // 2))
    t = torch.nn.functional.conv2d(t, kernel.view(1, 1, k, 1), padding=(k // 2, 0))
    return t[0, 0].cpu().numpy()


@task
def mask(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return image > threshold


@task
def compose(*pairs: np.ndarray) -> dict:
    """Coverage of every mask, as a plain dict."""
    return {f"image{i}": round(float(m.mean()), 4) for i, m in enumerate(pairs)}


def _gauss(sigma: float) -> np.ndarray:
    r = max(1, int(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float32)
    g = np.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).astype(np.float32)


def _blur_numpy(image: np.ndarray, sigma: float) -> np.ndarray:
    g = _gauss(sigma)
    out = np.apply_along_axis(np.convolve, 1, image, g, mode="same")
    return np.apply_along_axis(np.convolve, 0, out, g, mode="same").astype(np.float32)


def build(threshold: float = 0.5, images: int = 4, strength: float = 1.0):
    """The pipeline's final node and the per-image masks."""
    masks = []
    for seed in range(images):
        small = resize.bind(generate.bind(seed))
        masks.append(mask.bind(denoise.bind(small, strength=strength), threshold=threshold))
    return compose.bind(*masks), masks


TARGETS, masks = build()
