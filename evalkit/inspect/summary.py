"""The human-readable form of a `CheckpointInfo` (what `evalkit inspect` prints)."""

from __future__ import annotations

from evalkit.inspect.record import CheckpointInfo
from evalkit.terminal_text import printable

LABEL_WIDTH = 14


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _num(x: float | int | None) -> str:
    return "-" if x is None else f"{x:g}"


def _join(parts: list[str | None], sep: str = ", ") -> str:
    return sep.join(p for p in parts if p)


def _architecture(info: CheckpointInfo) -> str | None:
    arch = info.architecture
    if arch is None:
        return None
    if arch.custom_size:
        text = f"{arch.family} family, custom size (cross-attention {arch.cross_attention_dim}"
        text += "".join(f", {c} width {w}" for c, w in arch.text_encoder_dims.items()) + ")"
    else:
        text = arch.family
        if arch.cross_attention_dim:
            text += f" (cross-attention {arch.cross_attention_dim})"
    if arch.metadata_source:
        verdict = "agrees" if arch.agrees_with_metadata else "DISAGREES"
        text += f"; metadata {arch.metadata_source} {verdict}"
    return text


def _network(info: CheckpointInfo) -> list[str]:
    net = info.network
    if net is None:
        return []
    lines = [
        f"rank {net.rank}, alpha {_num(net.alpha)} (scale {net.scale:.4g}); {net.module_count} modules: "
        + ", ".join(f"{c} {n}" for c, n in net.module_counts.items())
    ]
    if net.mixed_ranks:
        lines.append("mixed ranks: " + ", ".join(f"{n} x rank {r}" for r, n in net.rank_distribution.items()))
    if len(net.alpha_distribution) > 1:
        lines.append("mixed alphas: " + ", ".join(f"{n} x alpha {_num(a)}" for a, n in net.alpha_distribution.items()))
    if net.conv_rank is not None:
        lines.append(f"conv layers (LoCon): rank {net.conv_rank}, alpha {_num(net.conv_alpha)}")
    if not net.alpha_stored:
        lines.append("some modules store no alpha: alpha = rank assumed for them")
    return lines


def _training(info: CheckpointInfo) -> list[str]:
    p = info.provenance
    lines = []
    lr = _join([
        p.optimizer,
        p.learning_rate is not None and f"lr {_num(p.learning_rate)}",
        p.unet_lr is not None and f"unet lr {_num(p.unet_lr)}",
        p.text_encoder_lr is not None and f"te lr {_num(p.text_encoder_lr)}",
        p.lr_scheduler,
    ])
    if lr:
        lines.append(lr)
    run = _join([
        p.num_epochs is not None and f"{p.epoch if p.epoch is not None else '?'}/{p.num_epochs} epochs",
        p.steps is not None and f"{p.steps} steps",
        p.seed is not None and f"seed {p.seed}",
        p.resolution and f"{p.resolution[0]}x{p.resolution[1]}",
        p.mixed_precision,
    ])
    if run:
        lines.append(run)
    noise = _join([
        p.noise_offset and f"noise offset {_num(p.noise_offset)}",
        p.multires_noise_iterations and f"multires noise {p.multires_noise_iterations} x {_num(p.multires_noise_discount)}",
        p.adaptive_noise_scale and f"adaptive noise {_num(p.adaptive_noise_scale)}",
        p.min_snr_gamma and f"min_snr_gamma {_num(p.min_snr_gamma)}",
    ])
    if noise:
        lines.append(noise)
    if p.training_started_at or p.training_finished_at:
        lines.append(f"{p.training_started_at or '?'} -> {p.training_finished_at or '?'}")
    return lines


def _captions(info: CheckpointInfo) -> str | None:
    p, c = info.provenance, info.captions
    parts = [
        p.shuffle_caption is not None and f"shuffle {'on' if p.shuffle_caption else 'off'}",
        p.keep_tokens is not None and f"keep_tokens {p.keep_tokens}",
    ]
    if c:
        per_image = f", {c.mean_tags_per_image:g} tags/image over {c.images} images" if c.mean_tags_per_image else ""
        parts.append(f"{c.distinct_tags} tags{per_image}, {c.hex_color_tags} hex-colour tags, tag set {c.short_hash}")
    return _join(parts) or None


def _data(info: CheckpointInfo) -> str | None:
    dirs = info.provenance.dataset_dirs
    if not isinstance(dirs, dict) or not dirs:
        return None
    return "; ".join(
        f"{name}: {d.get('img_count', '?')} images x {d.get('n_repeats', '?')} repeats" if isinstance(d, dict) else name
        for name, d in dirs.items()
    )


def _hashes(info: CheckpointInfo) -> str | None:
    h = info.hashes
    if h is None:
        return None
    text = f"sha256 {h.sha256[:16]}; tensors {h.tensor_sha256[:12]}"
    if h.model_hash_matches is not None:
        text += " (sshs_model_hash " + ("matches)" if h.model_hash_matches else "DOES NOT MATCH)")
    return text


def _health(info: CheckpointInfo) -> str | None:
    h = info.health
    if h is None:
        return None
    verdict = "ok" if h.ok else "PROBLEMS"
    parts = [f"{verdict}: {h.nan_count} NaN, {h.inf_count} Inf, {h.zero_up_modules} untrained modules"]
    if h.max_delta_norm is not None:
        worst = max(h.block_max_delta_norm, key=h.block_max_delta_norm.get)
        parts.append(f"max |dW| {h.max_delta_norm:.4g} in {worst}")
    return "; ".join(parts)


def format_summary(info: CheckpointInfo) -> str:
    """A short, aligned, multi-line summary of one checkpoint."""
    rows: list[tuple[str, str | None]] = [
        ("format", info.format.label + ("" if info.format.supported else " (NOT SUPPORTED)")),
        ("architecture", _architecture(info)),
    ]
    rows += [("network" if i == 0 else "", line) for i, line in enumerate(_network(info))]
    if info.network:
        rows.append(("blocks", ", ".join(f"{b} {n}" for b, n in info.network.block_counts.items())))
    p = info.provenance
    rows.append(("base model", _join([p.base_model_name, p.base_model_version and f"({p.base_model_version})"], " ")))
    rows += [("training" if i == 0 else "", line) for i, line in enumerate(_training(info))]
    rows += [("captions", _captions(info)), ("data", _data(info)), ("hashes", _hashes(info)), ("health", _health(info))]
    rows += [("warning", w) for w in info.warnings]
    # Every row holds text from the file (ss_* values, names): escaped, so none can drive the terminal.
    lines = [f"{printable(info.file)}  ({_size(info.file_size)})"]
    lines += [f"  {label + (':' if label else ''):<{LABEL_WIDTH}} {printable(text)}" for label, text in rows if text]
    return "\n".join(lines)
