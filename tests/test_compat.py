"""Files written by earlier versions of the harness still decode, byte for byte, or are refused
for a reason a user can act on; never decoded into something else.

tests/data/compat holds `sample.txt` and the .hz files earlier commits wrote from it. When a
change makes one of them undecodable on purpose (the same options now give other bits), bump
the predictor's `version`: its file is then refused as written by another version (move it to
REFUSED, and add one written by the new version). An option added to a predictor after its
files exist is declared `added_later`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import cli
from tests.conftest import SHARED

FIXTURES = Path(__file__).parent / "data" / "compat"
WRITTEN = {  # file: the commit that wrote it (`git show COMMIT` has that version's code)
    "order0.hz": "524a0e6",
    "ngram-format2-0646742.hz": "0646742",  # the container's format 2, its config as JSON
    "ngram.hz": "524a0e6",
    "mix-order0-lstm.hz": "524a0e6",
    "lstm.hz": "524a0e6",
    "gpt.hz": "524a0e6",
    # hf, as its options were added: none of backend, chunk, flash_attention and window; backend
    # and chunk; and flash_attention; all but window at its default; all (a44b1e4)
    "hf-stories260K-batch2-1280894.hz": "1280894",
    "hf-stories260K-batch2-8d2b607.hz": "8d2b607",
    "hf-stories260K-batch2-7c79294.hz": "7c79294",
    "hf-stories260K-batch2-524a0e6.hz": "524a0e6",
    "hf-stories260K-chunk400.hz": "a44b1e4",
    "hf-stories260K-bias-cd43fd2.hz": "cd43fd2",  # bias_lr=0.2, batch=2: two streams' biases
    "llamacpp-smollm2-524a0e6.hz": "524a0e6",
    "llamacpp-smollm2-shift-524a0e6.hz": "524a0e6",
    "cm-211c084.hz": "211c084",  # cm v16
    "mix-cm-ngram-211c084.hz": "211c084",
    "hf-stories260K-mix-cm-bias-211c084.hz": "211c084",  # mix:hf(./stories260K;bias_lr=0.2)+cm
}
CM_HERE = "version (here 16)"  # what refusing a file of an earlier cm says
MIX_CM_HERE = "'predictor': 'cm', 'version': 16"  # and a mix with an earlier cm member
REFUSED = {
    "order0-v1-0646742.hz": "version: file has 1, here 2",
    "cm.hz": CM_HERE,  # written by 524a0e6 (cm v3)
    "mix-cm-ngram.hz": MIX_CM_HERE,  # written by 524a0e6 (cm v3)
    "cm-7082fa0.hz": CM_HERE,  # cm v4
    "mix-cm-ngram-7082fa0.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-cd43fd2.hz": MIX_CM_HERE,  # a hybrid with cm v4
    "cm-0e3f51d.hz": CM_HERE,  # cm v5
    "mix-cm-ngram-fbb6918.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-fbb6918.hz": MIX_CM_HERE,  # a hybrid with cm v5
    "cm-2400757.hz": CM_HERE,  # cm v6
    "mix-cm-ngram-2400757.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-2400757.hz": MIX_CM_HERE,  # a hybrid with cm v6
    "cm-fa5284e.hz": CM_HERE,  # cm v7
    "mix-cm-ngram-fa5284e.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-fa5284e.hz": MIX_CM_HERE,  # a hybrid with cm v7
    "cm-002ad23.hz": CM_HERE,  # cm v8
    "mix-cm-ngram-002ad23.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-002ad23.hz": MIX_CM_HERE,  # a hybrid with cm v8
    "cm-e0a9939.hz": CM_HERE,  # cm v9
    "mix-cm-ngram-e0a9939.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-e0a9939.hz": MIX_CM_HERE,  # a hybrid with cm v9
    "cm-787f686.hz": CM_HERE,  # cm v10
    "mix-cm-ngram-787f686.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-787f686.hz": MIX_CM_HERE,  # a hybrid with cm v10
    "cm-b21c759.hz": CM_HERE,  # cm v11
    "mix-cm-ngram-b21c759.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-b21c759.hz": MIX_CM_HERE,  # a hybrid with cm v11
    "cm-defcb2b.hz": CM_HERE,  # cm v12
    "mix-cm-ngram-defcb2b.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-defcb2b.hz": MIX_CM_HERE,  # a hybrid with cm v12
    "cm-e8675bf.hz": CM_HERE,  # cm v13
    "mix-cm-ngram-e8675bf.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-e8675bf.hz": MIX_CM_HERE,  # a hybrid with cm v13
    "cm-3fa25ed.hz": CM_HERE,  # cm v14
    "mix-cm-ngram-3fa25ed.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-3fa25ed.hz": MIX_CM_HERE,  # a hybrid with cm v14
    "cm-29e560a.hz": CM_HERE,  # cm v15
    "mix-cm-ngram-29e560a.hz": MIX_CM_HERE,
    "hf-stories260K-mix-cm-bias-29e560a.hz": MIX_CM_HERE,  # a hybrid with cm v15
}
"""Files this version must refuse, and what its message says (order0 and cm code other bits since)."""
MODELS = {"hf-stories260K": "stories260K", "llamacpp-smollm2": "smollm2-135m-instruct"}
"""The folder under ../shared/models a file's name starts for."""
ENVIRONMENT = {"torch", "transformers", "numpy", "cpu_capability", "device_type", "llama_cpp", "llama_cpp_system"}
"""Config keys that name this machine's libraries or CPU rather than the format: a file that
differs only in them cannot decode here, rightly, and says so."""


WRITTEN_ON = {  # files of torch models whose config does not name the CPU's vector ISA: by the ISA they were written on
    **dict.fromkeys([name for name in WRITTEN if name.startswith("hf-stories260K")], "AVX2"),
    "mix-order0-lstm.hz": "AVX2",  # a mix's refusal names its members' config, not the key in it that differs
    "hf-stories260K-mix-cm-bias-211c084.hz": "AVX512",  # a mix, as above
}
"""torch's results differ between ISAs (AVX2, AVX-512): such a file decodes only where its ISA is this
machine's, and elsewhere fails its CRC check or is refused without naming the ISA."""


def decompress(capsys, *args: str) -> tuple[int, str]:
    """`harness decompress` in this process: torch and transformers are imported once for all
    the files, not once per file (8 s each)."""
    code = cli.main(["decompress", *map(str, args)])
    return code, capsys.readouterr().err


def test_every_fixture_is_listed():
    assert sorted(p.name for p in FIXTURES.glob("*.hz")) == sorted([*WRITTEN, *REFUSED])


def model_arguments(name: str) -> list[str]:
    """`--model FOLDER` for a file written with a local model (skipped where it is absent)."""
    model = next((SHARED / "models" / folder for start, folder in MODELS.items() if name.startswith(start)), None)
    if model and not model.is_dir():
        pytest.skip(f"{model} is absent")
    return ["--model", str(model)] if model else []


@pytest.mark.parametrize("name", sorted(WRITTEN))
def test_a_file_an_earlier_version_wrote_decodes_to_its_bytes(name, tmp_path, capsys):
    if name.startswith("llamacpp-"):
        pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    if name in WRITTEN_ON:
        here = pytest.importorskip("torch").backends.cpu.get_cpu_capability()
        if here != WRITTEN_ON[name]:
            pytest.skip(f"written where torch ran {WRITTEN_ON[name]} kernels, here {here}: its results differ")
    out = tmp_path / "decoded"
    code, err = decompress(capsys, *model_arguments(name), "-o", out, FIXTURES / name)
    if code:
        differs = re.findall(r"(\w+) \(here ", err)
        if differs and set(differs) <= ENVIRONMENT:
            pytest.skip(f"written with other libraries than these: {err.strip()}")
    assert code == 0, f"{name}, written by {WRITTEN[name]}: {err}"
    assert out.read_bytes() == (FIXTURES / "sample.txt").read_bytes()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_an_earlier_version_wrote_that_this_one_cannot_decode_is_refused_saying_why(name, tmp_path, capsys):
    code, err = decompress(capsys, *model_arguments(name), "-o", tmp_path / "decoded", FIXTURES / name)
    assert code == 2
    assert REFUSED[name] in err
    assert not (tmp_path / "decoded").exists()
