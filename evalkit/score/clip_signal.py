"""Optional CLIP signal for photorealism (and CLIP features for the set-level MMD).

Off unless the user names a model. `load_clip` never downloads anything on
its own: it loads local weights (``--clip-weights FILE``), and reaches a hub
only for a model id the user spelled as ``hf-hub:org/name``. When
``open_clip_torch`` cannot be imported (it needs torchvision, which evalkit's
CPU install leaves out) asking for CLIP is a one-line error, and not asking
costs nothing: this module is imported only when CLIP is requested.

Two signals, each in [0, 1], higher = more photo-like:

``clip_zero_shot``
    Zero-shot probability of "photo" prompts against "pixel art" prompts.
``clip_distance``
    Cosine distance of the render's embedding from the golden punks' mean
    embedding, beyond the 95th percentile of the golden punks' own distances,
    relative to that percentile (0 inside the golden spread, 1 at twice it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

PHOTO_PROMPTS = (
    "a photo of a baby",
    "a realistic photograph of a person",
    "a photo of a face with soft lighting",
)
PIXEL_PROMPTS = (
    "pixel art",
    "a 24x24 pixel art punk portrait",
    "an 8-bit sprite with flat colors",
)
# CLIP's image normalisation (open_clip.constants.OPENAI_DATASET_MEAN / STD).
_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
_STD = np.array([0.26862954, 0.26130258, 0.27577711])


class ClipModel:
    """A CLIP image/text encoder as evalkit uses it.

    Subclasses implement `_encode_images` ((N, S, S, 3) float in [0, 1] ->
    (N, d)) and `_encode_texts`; this class normalises, resizes and derives
    the signals. `OpenClipModel` wraps open_clip_torch; tests use a fake.
    """

    name = "clip"
    image_size = 224

    def embed_images(self, images) -> np.ndarray:
        """Unit-norm embeddings of (N, H, W, 3) uint8 or [0, 1] float images: (N, d) float64."""
        batch = np.stack([_square_resize(im, self.image_size) for im in images])
        return _unit(np.asarray(self._encode_images(batch), np.float64))

    def embed_texts(self, texts) -> np.ndarray:
        return _unit(np.asarray(self._encode_texts(list(texts)), np.float64))

    def signals(self, rgb: np.ndarray, golden_embeddings: np.ndarray | None) -> dict:
        """``{"clip_zero_shot": p, "clip_distance": d}`` for one render ((H, W, 3) float in [0, 1])."""
        emb = self.embed_images([rgb])[0]
        return self.signals_from_embedding(emb, golden_embeddings)

    def signals_from_embedding(self, emb: np.ndarray, golden_embeddings: np.ndarray | None) -> dict:
        if not hasattr(self, "_text_cache"):
            self._text_cache = self.embed_texts(PHOTO_PROMPTS + PIXEL_PROMPTS)
        logits = 100.0 * self._text_cache @ emb
        p = np.exp(logits - logits.max())
        p /= p.sum()
        out = {"clip_zero_shot": float(p[: len(PHOTO_PROMPTS)].sum())}
        if golden_embeddings is not None and len(golden_embeddings) > 1:
            centre = _unit(golden_embeddings.mean(0, keepdims=True))[0]
            own = 1.0 - golden_embeddings @ centre
            q = max(float(np.percentile(own, 95)), 1e-6)
            dist = 1.0 - float(emb @ centre)
            out["clip_distance"] = float(np.clip((dist - q) / q, 0.0, 1.0))
        return out

    def _encode_images(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def _encode_texts(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class OpenClipModel(ClipModel):
    """open_clip_torch model on CPU, preprocessing done here (no torchvision transforms)."""

    def __init__(self, model, tokenizer, name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        size = getattr(getattr(model, "visual", None), "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)

    def _encode_images(self, batch):
        import torch

        x = (batch - _MEAN) / _STD
        x = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
        with torch.no_grad():
            return self.model.encode_image(x).float().numpy()

    def _encode_texts(self, texts):
        import torch

        with torch.no_grad():
            return self.model.encode_text(self.tokenizer(texts)).float().numpy()


def load_clip(model: str, weights: str | Path | None = None) -> ClipModel:
    """Load a CLIP model the user asked for; never downloads unless ``model`` is an ``hf-hub:`` id.

    Parameters
    ----------
    model : str
        open_clip architecture name (``"ViT-B-32"``) used with ``weights``, or
        ``"hf-hub:org/name"`` (the user's explicit request to fetch it).
    weights : path, optional
        Local checkpoint for ``model``; required unless ``model`` is ``hf-hub:``.

    Raises
    ------
    EvalkitError
        One line, when weights are missing or open_clip_torch cannot be imported.
    """
    hub = model.startswith("hf-hub:")
    if not hub:
        if weights is None:
            raise EvalkitError(
                "--clip-model",
                f"'{model}' needs local weights (--clip-weights FILE); name a model as "
                "hf-hub:org/name to let evalkit download it",
            )
        weights = Path(weights)
        if not weights.is_file():
            raise EvalkitError(weights, "CLIP weights file does not exist")
    try:
        import open_clip
    except Exception as exc:  # ImportError, or a dependency failing at import time
        raise EvalkitError(
            "--clip-model",
            f"CLIP needs open_clip_torch with its dependencies ({type(exc).__name__}: {exc}); "
            "install evalkit[clip] or score without --clip-model",
        ) from None
    try:
        if hub:
            net = open_clip.create_model(model)
        else:
            net = open_clip.create_model(model, pretrained=str(weights))
        tokenizer = open_clip.get_tokenizer(model)
    except Exception as exc:
        where = weights if weights is not None else "--clip-model"
        raise EvalkitError(where, f"cannot load CLIP model '{model}' ({type(exc).__name__}: {exc})") from None
    return OpenClipModel(net, tokenizer, model)


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def _square_resize(image, size: int) -> np.ndarray:
    """Centre-crop to a square and resize (bicubic) to ``size``: (size, size, 3) float in [0, 1]."""
    from PIL import Image

    from evalkit.image_arrays import as_rgb_float

    rgb = as_rgb_float(image)
    h, w = rgb.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = np.rint(rgb[y : y + s, x : x + s] * 255).astype(np.uint8)
    out = Image.fromarray(crop).resize((size, size), Image.BICUBIC)
    return np.asarray(out, np.float64) / 255.0
