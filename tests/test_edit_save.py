"""Keeping an edit: the edited model saved as GGUF (types, metadata and tokenizer of the
source, the edit recorded), read back by `gguf` and by edgesim with the same logits, and
`edgesim generate` on it; subjects typed with other capitalisation."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED

STORIES = SHARED / "models" / "stories260K.gguf"
PROMPT = "Once upon a time, there was a little girl named"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgesim.cli", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def edited():
    from npu_sim.editing import EditRequest, edit
    from npu_sim.llm import load_model

    model = load_model(STORIES)
    req = EditRequest("girl", PROMPT, " Sue", ("There was a girl named",),
                      ("One day, a boy named",))
    return model, edit(model, req, "rome-bp")


def test_saved_edit_reads_back_with_the_same_logits(edited, tmp_path):
    import gguf

    from edgesim.cli_edit import edit_record
    from npu_sim.llm import load_model
    from npu_sim.llm.gguf_save import EDITS_KEY, edits_recorded, save_gguf
    from npu_sim.llm.reference import forward

    model, r = edited
    out = save_gguf(r.model, tmp_path / "sue.gguf", [r.tensor], edit_record(r))
    src, back = gguf.GGUFReader(STORIES), gguf.GGUFReader(out)
    assert [(t.name, t.tensor_type) for t in src.tensors] == \
        [(t.name, t.tensor_type) for t in back.tensors]
    assert set(back.fields) - set(src.fields) == {EDITS_KEY}
    for name, field in src.fields.items():
        if not name.startswith("GGUF."):
            assert back.fields[name].contents() == field.contents(), name
    [record] = edits_recorded(out)
    assert record["method"] == "rome-bp" and record["layer"] == r.layer == 2
    assert record["subject"] == "girl" and record["target"] == " Sue"
    assert record["target_true"] == r.request.target_true and record["prompt"] == PROMPT
    assert record["success"] is r.success is True
    loaded = load_model(out)
    for text in (PROMPT, "One day, a boy named"):
        ids = model.tokenizer.encode(text)
        assert np.array_equal(forward(loaded, ids), forward(r.model, ids))
    assert not np.array_equal(forward(loaded, ids), forward(model, ids))
    # a second save over the first keeps the earlier record
    save_gguf(loaded, out, [r.tensor], {"method": "again"})
    assert [e["method"] for e in edits_recorded(out)] == ["rome-bp", "again"]
    assert [p.name for p in tmp_path.iterdir()] == ["sue.gguf"]      # no temporary left


def test_cli_edit_with_a_capitalised_subject_saves_and_generates(tmp_path):
    out = tmp_path / "sue.gguf"
    r = _cli("edit", "--model", str(STORIES), "--subject", "Girl", "--prompt", PROMPT,
             "--target", " Sue", "--method", "rome-bp", "--paraphrase",
             "There was a girl named", "--neighborhood", "One day, a boy named",
             "--save", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "subject 'girl': the prompt's span for 'Girl', matched ignoring case" in r.stdout
    assert "instead of ' Lily. She'" in r.stdout
    shown = r.stdout.split("continuations (before -> after):")[1].splitlines()[1:]
    assert [line.split()[0] for line in shown] == ["prompt", "paraphrase", "neighbor", "saved"]
    assert "' Lily. She" in shown[0] and "-> ' Sue" in shown[0]
    g = _cli("generate", "--model", str(out), "--prompt", PROMPT, "--tokens", "4")
    assert g.returncode == 0 and g.stdout.startswith(" Sue"), g.stderr[-2000:]
    g = _cli("generate", "--model", str(STORIES), "--prompt", PROMPT, "--tokens", "4")
    assert g.returncode == 0 and g.stdout.startswith(" Lily")


def test_cli_save_refusals_are_one_line(tmp_path):
    r = _cli("edit", "--model", str(STORIES), "--subject", "girl", "--prompt", PROMPT,
             "--target", " Sue", "--save", str(tmp_path))
    assert r.returncode == 2 and "is a folder" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _cli("generate", "--model", str(tmp_path / "none.gguf"), "--prompt", PROMPT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = _cli("edit", "--model", str(STORIES), "--subject", "the Louvre", "--prompt", PROMPT,
             "--target", " Sue")
    assert r.returncode == 2 and "does not occur" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
