"""`inspect_checkpoint(path) -> CheckpointInfo`: the Python entry point of inspection.

Reads the safetensors header, then only the tensor bytes a result needs:
the alphas always, every weight for the health check, and the whole file
for the hashes (each can be switched off). No model is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.inspect.architecture import infer_architecture
from evalkit.inspect.caption_fingerprint import caption_fingerprint
from evalkit.inspect.formats import LoraModuleTensors, detect_format
from evalkit.inspect.hashes import compute_hashes
from evalkit.inspect.network import summarise_network
from evalkit.inspect.provenance import parse_provenance
from evalkit.inspect.record import CheckpointInfo
from evalkit.inspect.safetensors_header import SafetensorsFile
from evalkit.inspect.tensor_health import check_tensor_health


def _read_alphas(st: SafetensorsFile, modules: list[LoraModuleTensors]) -> dict[str, float]:
    alphas = {}
    for module in modules:
        if module.alpha is not None:
            alphas[module.name] = float(st.read_array(module.alpha).reshape(-1)[0])
        elif module.alpha_from_metadata is not None:
            alphas[module.name] = module.alpha_from_metadata
    return alphas


def _one_line(text: str) -> str:
    return " ".join(text.split())


def inspect_checkpoint(
    path: str | os.PathLike,
    *,
    tensor_health: bool = True,
    hashes: bool = True,
    require_supported: bool = False,
) -> CheckpointInfo:
    """Inspect one LoRA checkpoint.

    Raises `EvalkitError` (one line, naming the file) for anything that is not
    a readable LoRA: missing or damaged files, pickles, base models, broken
    module shapes. A recognised but unsupported family (LoHa, LoKr, DoRA)
    returns a record with ``format.supported == False`` unless
    `require_supported` is set, in which case it raises.
    """
    where = os.fspath(path)
    try:
        with SafetensorsFile(path) as st:
            info = _inspect_open_file(st, where, tensor_health=tensor_health, hashes=hashes)
    except OSError as exc:  # the file vanished or could not be read mid-way
        raise EvalkitError(where, f"cannot read: {exc.strerror or exc}") from None
    if require_supported:
        info.raise_if_unsupported()
    return info


def _inspect_open_file(st: SafetensorsFile, where: str, *, tensor_health: bool, hashes: bool) -> CheckpointInfo:
    metadata = st.metadata
    warnings: list[str] = []
    detected = detect_format(st.header, where)
    fmt = detected.info
    if fmt.note:
        warnings.append(fmt.note)
    warnings += detected.warnings
    if fmt.unused_tensors:
        warnings.append(
            f"{len(fmt.unused_tensors)} tensors belong to no LoRA module (e.g. {fmt.unused_tensors[0]}); "
            "diffusers may refuse the file"
        )

    architecture = network = health = None
    if detected.modules:
        architecture, found = infer_architecture(detected.modules, metadata)
        warnings += found
        network, found = summarise_network(detected.modules, _read_alphas(st, detected.modules), metadata)
        warnings += found
        if tensor_health:
            scales = {m.name: m.scale for m in network.modules}
            health, found = check_tensor_health(st, detected.modules, scales)
            warnings += found

    provenance, found = parse_provenance(metadata)
    warnings += found
    captions, found = caption_fingerprint(metadata, provenance.dataset_dirs)
    warnings += found
    file_hashes = None
    if hashes:
        file_hashes, found = compute_hashes(st)
        warnings += found

    return CheckpointInfo(
        file=where,
        file_name=Path(where).name,
        file_size=st.header.file_size,
        format=fmt,
        architecture=architecture,
        network=network,
        provenance=provenance,
        captions=captions,
        hashes=file_hashes,
        health=health,
        metadata=dict(metadata),
        warnings=[_one_line(w) for w in warnings],
    )
