"""Find and load the base model a LoRA goes on, never downloading behind the user's back.

Order: ``--base-model`` (hub id, local diffusers folder, or single-file
``.safetensors`` with a local config), else the base named in the LoRA's
metadata (``ss_sd_model_name``) when found locally, else the default for the
detected architecture. With ``HF_HUB_OFFLINE=1`` a hub id must already be in
the local cache.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError

DEFAULT_BASES = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sd2": "stabilityai/stable-diffusion-2-1",
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin"}


@dataclass(frozen=True)
class BaseRef:
    kind: str  # "dir" | "single_file" | "hub"
    location: str
    config_dir: str | None = None  # for single files: local diffusers-layout config

    @property
    def label(self) -> str:
        return Path(self.location).name if self.kind != "hub" else self.location


def search_dirs(lora: Path) -> list[Path]:
    from evalkit.paths import DEFAULT_CHECKPOINTS

    return [lora.parent, lora.parent.parent, DEFAULT_CHECKPOINTS, Path.cwd() / "checkpoints"]


def resolve_base(base_model: str | None, lora: Path, family: str | None, metadata_name: str | None,
                 config_dir: str | None = None) -> BaseRef:
    if base_model:
        p = Path(base_model)
        if p.is_dir():
            if not (p / "model_index.json").is_file():
                raise EvalkitError(p, "base model folder has no model_index.json (not a diffusers pipeline)")
            return BaseRef("dir", str(p))
        if p.is_file():
            if p.suffix.lower() in PICKLE_SUFFIXES:
                raise EvalkitError(p, "pickle checkpoints are refused (they can run code); convert to .safetensors")
            if p.suffix.lower() != ".safetensors":
                raise EvalkitError(p, "base model file must be .safetensors")
            return BaseRef("single_file", str(p), config_dir)
        if HUB_ID.match(base_model) and not base_model.startswith((".", "/")):
            return BaseRef("hub", base_model)
        raise EvalkitError(base_model, "base model not found (not a folder, a .safetensors file or a hub id)")
    if metadata_name:
        stem = Path(metadata_name).stem if metadata_name.endswith(".safetensors") else metadata_name
        for d in search_dirs(lora):
            if (d / stem / "model_index.json").is_file():
                return BaseRef("dir", str(d / stem))
            if (d / f"{stem}.safetensors").is_file():
                return BaseRef("single_file", str(d / f"{stem}.safetensors"), config_dir)
    if family in DEFAULT_BASES:
        return BaseRef("hub", DEFAULT_BASES[family])
    raise EvalkitError(lora, f"cannot tell which base model this LoRA needs (family {family!r}); pass --base-model")


def quiet_loading_bars() -> None:
    """No diffusers/transformers loading bars: their nested bars move the cursor up (ESC[A), garbage in a
    pipe or a CI log. evalkit's own render progress says what is happening."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def load_pipeline(ref: BaseRef, device: str, dtype):
    """A diffusers text-to-image pipeline for `ref`, loaded offline-safe."""
    from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline

    from huggingface_hub import constants

    offline = constants.HF_HUB_OFFLINE  # the hub's own reading of HF_HUB_OFFLINE (ON, 1, true, ...)
    if not sys.stderr.isatty():
        quiet_loading_bars()
    try:
        if ref.kind == "dir":
            pipe = DiffusionPipeline.from_pretrained(ref.location, dtype=dtype, local_files_only=True,
                                                     safety_checker=None, requires_safety_checker=False)
        elif ref.kind == "single_file":
            cls = single_file_pipeline_class(ref)
            pipe = cls.from_single_file(ref.location, config=ref.config_dir, dtype=dtype, local_files_only=True)
        else:
            pipe = DiffusionPipeline.from_pretrained(ref.location, dtype=dtype, local_files_only=offline)
    except EvalkitError:
        raise
    except Exception as exc:  # diffusers/hub raise many types; the user needs one line
        if ref.kind == "hub":
            raise EvalkitError(ref.location, f"base model not available{' offline' if offline else ''}: fetch it "
                               f"with `hf download {ref.location}` or pass --base-model DIR "
                               f"({type(exc).__name__})") from None
        raise EvalkitError(ref.location, f"cannot load base model: {type(exc).__name__}: {exc}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def single_file_pipeline_class(ref: BaseRef):
    """The pipeline class a single-file base loads as, read from its --base-config folder."""
    import json

    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if not ref.config_dir:
        raise EvalkitError(ref.location, "a single-file base needs --base-config DIR (a local diffusers "
                           "folder with the model's configs) so nothing is downloaded")
    index = Path(ref.config_dir) / "model_index.json"
    try:
        name = json.loads(index.read_text()).get("_class_name", "")
    except (OSError, ValueError, AttributeError):
        raise EvalkitError(index, "unreadable or missing: --base-config must be a diffusers folder with the "
                           "base's model_index.json and component configs") from None
    return StableDiffusionXLPipeline if name.startswith("StableDiffusionXL") else StableDiffusionPipeline


def pipeline_family(pipe) -> str:
    return "sdxl" if type(pipe).__name__.startswith("StableDiffusionXL") else "sd15"


def native_size(pipe) -> int:
    return int(pipe.unet.config.sample_size * pipe.vae_scale_factor)
