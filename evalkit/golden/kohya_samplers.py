"""sd-scripts' sampler names, as its sample-prompt files and ``--sample_sampler`` spell them.

They belong to the prompt-file format (golden/kohya_prompts.py checks them
line by line); the render stage maps each to its diffusers scheduler.
"""

from __future__ import annotations

from evalkit.errors import EvalkitError

# sd-scripts' sampler names (train_util.get_my_scheduler) -> (diffusers scheduler, its extra config).
SAMPLERS = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmsolver": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver"}),
    "dpmsolver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpmsingle": ("DPMSolverSinglestepScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_a": ("KDPM2AncestralDiscreteScheduler", {}),
}
SAMPLERS.update({f"k_{name}": SAMPLERS[name] for name in ("lms", "euler", "euler_a", "dpm_2", "dpm_2_a")})


def check_sampler(name, where: str | None = None) -> str:
    if name not in SAMPLERS:
        raise EvalkitError(where or "sampler", f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return name
