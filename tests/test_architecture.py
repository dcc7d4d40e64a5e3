"""The shape of the code: one-way imports in the core, and start-up that loads no torch."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import harness
from harness import cli, registry

CORE = Path(harness.__file__).parent


def _name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in CORE.rglob("*.py")}
OURS = {"harness", "plugins", "corpora"}


def _imports(module: Path) -> set[str]:
    """The harness modules `module` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "harness" or node.module == "harness.commands":
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
            if node.module.startswith("harness."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("harness.")}
    return {name for name in found if name in MODULES and name != "harness"}


def test_no_import_circle_in_the_core():
    graph = {name: _imports(path) for name, path in MODULES.items() if name != "harness"}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import circle: " + " -> ".join([*path[path.index(name) :], name])
        if name in done:
            return
        for imported in sorted(graph.get(name, ())):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_coding_path_imports_nothing_above_it():
    """coder -> predictor -> container (over its wire format and setup check) is the spine: it
    knows no registry, CLI or leaderboard."""
    spine = {"harness.coder", "harness.errors", "harness.predictor", "harness.jit", "harness.dirs"}
    spine |= {"harness.container", "harness.wire", "harness.setup_check"}
    for name in spine:
        assert _imports(MODULES[name]) <= spine, name
    user_facing = {"harness.cli", "harness.ui"}
    below = [name for name in MODULES if "commands" not in name and name not in user_facing]
    assert not any(_imports(MODULES[name]) & user_facing for name in below)


def test_the_command_line_takes_its_choices_from_the_commands_and_help_loads_none_of_them(capsys):
    """Choices come from the modules that define them (no copies), read only when asked for."""
    modules = _modules_after(
        """
        import contextlib, io
        from harness import cli
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            cli.main(['--help'])
        """
    )
    assert not {"harness.formats", "harness.leaderboard", "harness.sweep", "pandas", "numba"} & modules
    with pytest.raises(SystemExit):
        cli.main(["leaderboard", "--format", "pdf"])
    assert "choose from 'table', 'md', 'csv', 'json', 'html'" in capsys.readouterr().err


def test_commands_that_code_nothing_load_no_compiler(tmp_path):
    """Every built-in plugin defines numba kernels, and `list`, `leaderboard` and `publish` load
    them all; numba comes only with a kernel's first call, so these commands never import it."""
    store = tmp_path / "results.jsonl"
    published = Path(harness.__file__).parents[1] / "results" / "results.jsonl"
    store.write_text(published.read_text().splitlines()[0] + "\n")
    commands = [
        ["list", "predictors", "--options"],
        ["list", "corpora"],
        ["leaderboard", "--results", str(store)],
        ["publish", "--from", str(store), "-o", str(tmp_path / "out")],
    ]
    for command in commands:
        modules = _modules_after(
            f"""
            import contextlib, io
            from harness import cli
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli.main({command!r}) == 0
            """
        )
        assert "plugins.cm" in modules and "harness.coder" in modules, command
        assert "numba" not in modules, command


def _modules_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_help_and_compress_with_ngram_load_no_torch(tmp_path):
    source = tmp_path / "small.txt"
    source.write_bytes(b"a small file, compressed without torch\n" * 4)
    modules = _modules_after(
        f"""
        from harness import cli
        try:
            cli.main(["--help"])
        except SystemExit:
            pass
        assert cli.main(["compress", {str(source)!r}, "-p", "ngram"]) == 0
        assert cli.main(["decompress", {str(source)!r} + ".hz", "-o", {str(tmp_path / "back")!r}]) == 0
        """
    )
    assert "torch" not in modules and "transformers" not in modules
    assert (tmp_path / "back").read_bytes() == source.read_bytes()


def test_listing_predictors_loads_no_torch():
    assert "torch" not in _modules_after("from harness import cli; cli.main(['list', 'predictors'])")


def test_a_new_built_in_module_is_registered_without_reinstalling(tmp_path, monkeypatch):
    """Adding a module to DEFAULT_PLUGINS is all it takes (no entry point, no pip install)."""
    (tmp_path / "fresh_plugin.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from harness import Predictor, hookimpl

            class Fresh(Predictor):
                name = "fresh"
                description = "a module added to the defaults"

                def predict(self):
                    return np.full(256, 1 / 256)

                def update(self, symbol):
                    pass

            @hookimpl
            def harness_predictors():
                return [Fresh]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "DEFAULT_PLUGINS", (*registry.DEFAULT_PLUGINS, "fresh_plugin"))
    loaded = registry.load_registry()
    assert loaded.predictors["fresh"].plugin == "fresh_plugin" and not loaded.errors


def test_without_torch_the_core_works_and_a_neural_predictor_names_its_extra(tmp_path):
    """torch is the `neural` extra: a harness installed without it codes with the rest."""
    script = tmp_path / "no_torch.py"
    script.write_text(
        "import sys\nsys.modules['torch'] = None  # as if it were not installed\n"
        "from harness import cli\nsys.exit(cli.main(sys.argv[1:]))\n"
    )
    data = tmp_path / "notes.txt"
    data.write_bytes(b"hello hello hello\n" * 20)

    def harness(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)

    assert harness("compress", str(data), "-p", "ngram", "-o", str(tmp_path / "n.hz")).returncode == 0
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"not read: torch is missing first")
    for spec in ("gpt", "lstm", f"hf:{model}"):
        done = harness("compress", str(data), "-p", spec, "-o", str(tmp_path / "x.hz"))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "torch is not installed" in done.stderr and "pip install 'compression-harness[" in done.stderr


def test_every_benchmark_script_compiles_and_finds_what_it_imports_from_the_harness():
    """The benchmarks run by hand (some only on a GPU or beside ../shared), so nothing else
    notices when one rots: each must compile, and every name it imports from harness, plugins or
    corpora (at the top or inside a function) must still be there."""
    scripts = sorted((CORE.parent / "benchmarks").glob("*.py"))
    assert len(scripts) >= 10
    for script in scripts:
        tree = ast.parse(script.read_text(), str(script))
        compile(tree, str(script), "exec")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OURS:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                        f"{script.name}: from {node.module} import {alias.name}"
                    )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in OURS:
                        importlib.import_module(alias.name)
