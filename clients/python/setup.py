"""Builds the client's protobuf module at build time, so that `python -m build` on a clean
checkout (or `pip install` of the sdist) gives a wheel that imports without the repository's
setup script: grpcio-tools (a build requirement, pinned in pyproject.toml) compiles
seam/v1/seam.proto into pulsar_seam/_generated. The proto is the repository's own
(../../proto) in a checkout, and a copy at proto/ inside the sdist, which this file adds.

Everything else about the package is in pyproject.toml."""

import shutil
from importlib import resources
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PROTO = "seam/v1/seam.proto"
GENERATED = "pulsar_seam/_generated"


def proto_root() -> Path:
    """The folder holding seam/v1/seam.proto: the sdist's copy, else the repository's."""
    for root in (HERE / "proto", HERE.parents[1] / "proto"):
        if (root / PROTO).is_file():
            return root
    raise FileNotFoundError(f"{PROTO} is neither under {HERE / 'proto'} nor under the repository's proto/")


def generate(out: Path) -> None:
    """seam_pb2.py (messages only: the client makes its one gRPC call without stubs) under out."""
    from grpc_tools import protoc  # a build requirement, imported only when building

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    status = protoc.main(["protoc", f"-I{proto_root()}", f"-I{well_known}", f"--python_out={out}", PROTO])
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit status {status})")


class BuildPy(build_py):
    """build_py, then the generated module: into the build tree for a wheel, into the source
    tree for an editable install (where scripts/gen.sh also puts it)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            generate(HERE / GENERATED)
        else:
            generate(Path(self.build_lib) / GENERATED)


class Sdist(sdist):
    """sdist, with the proto the build compiles (it lives outside this folder in the repository)."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "proto" / PROTO
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(proto_root() / PROTO, target)


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
