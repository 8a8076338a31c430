"""Write a model whose weights were changed in memory back to GGUF, with the source file's
metadata, tokenizer and tensor types, through the PyPI `gguf` package's GGUFWriter (after
gguf-py's own `gguf_new_metadata.py`, which copies a file with changed metadata).

Every tensor that did not change is copied byte for byte from the source file, in its own
storage type. A changed tensor is written as F32 (its own type when that was F32 already):
requantising a rank-one edit to 4 or 8 bits would round much of it away, and F32 makes the
saved model give exactly the logits of the in-memory one. Each save appends a JSON record
(what changed and why) to the metadata array `EDITS_KEY`, so a file edited twice lists both
edits. The write is atomic: a private temporary file beside the target, renamed into place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edgesim.errors import EdgesimError
from edgesim.io import atomic_file

from .model import LlamaModel

EDITS_KEY = "edgesim.edits"


def save_gguf(model: LlamaModel, out: str | os.PathLike[str], changed: list[str],
              record: dict) -> Path:
    """Write `model` to `out`: the file `model.path` with the tensors named in `changed`
    replaced by `model.weights[...]` (as F32) and `record` appended to `EDITS_KEY`."""
    import gguf

    out = Path(out)
    reader = gguf.GGUFReader(model.path)
    arch = reader.fields["general.architecture"].contents()
    previous = reader.fields[EDITS_KEY].contents() if EDITS_KEY in reader.fields else []
    with atomic_file(out) as tmp:
        writer = gguf.GGUFWriter(tmp, arch)
        if "general.alignment" in reader.fields:
            writer.data_alignment = int(reader.fields["general.alignment"].contents())
        for field in reader.fields.values():
            # the writer adds the architecture itself; GGUF.* are the header's counts
            if field.name in ("general.architecture", EDITS_KEY) \
                    or field.name.startswith("GGUF."):
                continue
            vtype = field.types[0]
            sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
        writer.add_array(EDITS_KEY, [*previous, json.dumps(record, sort_keys=True)])
        data = {}
        for t in reader.tensors:
            if t.name in changed:
                data[t.name] = np.ascontiguousarray(model.weights[t.name], np.float32)
                writer.add_tensor_info(t.name, data[t.name].shape, data[t.name].dtype,
                                       data[t.name].nbytes)
            else:
                data[t.name] = t.data
                writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes,
                                       raw_dtype=t.tensor_type)
        missing = set(changed) - set(data)
        if missing:
            raise EdgesimError(f"{model.path} has no tensor {sorted(missing)[0]} to replace")
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for arr in data.values():
            writer.write_tensor_data(arr)
        writer.close()
    return out


def edits_recorded(path: str | os.PathLike[str]) -> list[dict]:
    """The edit records a saved file carries (oldest first)."""
    from .gguf_file import read_gguf

    return [json.loads(s) for s in read_gguf(path).fields.get(EDITS_KEY, [])]
