"""The package as a user gets it: `python -m build` on a clean copy of the sources (no
generated code: the build compiles seam.proto itself), the wheel installed with its `spark`
extra into an empty virtualenv (dependencies from PyPI), and that venv's python reading a
topic through the real gateway: pulsar_seam.read (ReadStream), pulsar_seam.read_parallel
(Flight), and a local Spark whose driver and executors run that python, reading format
"seam" without register() (Spark finds pyspark_seam by itself)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, fresh_topic, produce, read_official

PACKAGE = ROOT / "clients/python"
JAVA_17 = "/usr/lib/jvm/java-17-openjdk-amd64"


def run(*args, **kwargs):
    done = subprocess.run(args, check=False, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def clean_env():
    """The environment without this venv's traces, so the fresh one stands alone."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    if "JAVA_HOME" not in env and Path(JAVA_17).is_dir():
        env["JAVA_HOME"] = JAVA_17
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """sdist and wheel from a copy of clients/python and proto/seam as git holds them: no
    pulsar_seam/_generated, no egg-info, no caches. `python -m build` builds the wheel from
    the sdist, so the sdist must carry what the build needs."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(PACKAGE, src / "clients/python", ignore=shutil.ignore_patterns(
        "_generated", "*.egg-info", "__pycache__", "build", "dist"))
    shutil.copytree(ROOT / "proto/seam", src / "proto/seam")
    run(sys.executable, "-m", "build", "--outdir", str(root / "dist"), str(src / "clients/python"),
        env=clean_env())
    [wheel] = (root / "dist").glob("*.whl")
    [sdist] = (root / "dist").glob("*.tar.gz")
    return root, wheel, sdist


@pytest.fixture(scope="module")
def fresh_python(built):
    root, wheel, _ = built
    venv = root / "venv"
    # Without pip of its own (ensurepip takes seconds): this venv's pip installs into it.
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), env=clean_env())
    python = venv / "bin/python"
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--disable-pip-version-check",
        f"{wheel}[spark]", env=clean_env())
    return python


def test_the_wheel_carries_code_generated_for_its_protobuf_floor(built):
    _, wheel, sdist = built
    import tarfile
    import zipfile

    with tarfile.open(sdist) as tar:
        assert any(n.endswith("/proto/seam/v1/seam.proto") for n in tar.getnames())
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "pyspark_seam.py" in names
        generated = z.read("pulsar_seam/_generated/seam/v1/seam_pb2.py").decode()
    # The generated module refuses a protobuf runtime older than the protoc that wrote it:
    # the package's protobuf floor must be at least that version.
    gencode = tuple(int(x) for x in re.search(r"Protobuf Python Version: ([\d.]+)", generated)[1].split("."))
    floor = re.search(r'"protobuf>=([\d.]+)', (PACKAGE / "pyproject.toml").read_text())[1]
    assert tuple(int(x) for x in floor.split(".")) >= gencode


READ = """
import json, sys
import pulsar_seam
address, topic = sys.argv[1:]
stream = pulsar_seam.read(address, topic).read_all()
parallel = pulsar_seam.read_parallel(address, topic)
print(json.dumps({
    "module": pulsar_seam.__file__,
    "stream": [m.hex() for m in stream.column("__messageId").to_pylist()],
    "parallel": [m.hex() for m in parallel.column("__messageId").to_pylist()],
}))
"""

SPARK = """
import json, sys
from pyspark.sql import SparkSession
address, topic = sys.argv[1:]
spark = (SparkSession.builder.master("local[2]").appName("seam-wheel")
         .config("spark.ui.enabled", "false")
         .config("spark.pyspark.python", sys.executable)
         .config("spark.sql.python.filterPushdown.enabled", "true")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = (spark.read.format("seam").option("gateway", f"grpc://{address}").option("topic", topic)
      .load())
ids = [bytes(r[0]).hex() for r in df.select("__messageId").collect()]
def where(_):
    import sys, pulsar_seam
    return sys.executable, pulsar_seam.__file__
executor = spark.sparkContext.parallelize([0], 1).map(where).collect()[0]
spark.stop()
print(json.dumps({"ids": ids, "executor": executor}))
"""


def test_the_installed_wheel_reads_a_topic_in_an_empty_venv(fresh_python, gateway, pulsar_client, tmp_path):
    topic = fresh_topic("wheel")
    produce(pulsar_client, topic, 60)
    official = [m.message_id().serialize().hex() for m in read_official(pulsar_client, topic)]
    out = json.loads(run(str(fresh_python), "-c", READ, gateway.address, topic, cwd=tmp_path, env=clean_env()))
    assert out["module"].startswith(str(fresh_python.parents[1]))  # the installed copy
    assert out["stream"] == official
    assert out["parallel"] == official


def test_spark_executors_on_the_fresh_venv_read_format_seam_without_register(
        fresh_python, gateway, pulsar_client, tmp_path):
    topic = fresh_topic("wheel-spark")
    produce(pulsar_client, topic, 60)
    official = [m.message_id().serialize().hex() for m in read_official(pulsar_client, topic)]
    script = tmp_path / "spark_read.py"
    script.write_text(SPARK)
    env = {**clean_env(), "PYSPARK_PYTHON": str(fresh_python), "PYSPARK_DRIVER_PYTHON": str(fresh_python)}
    out = json.loads(run(str(fresh_python), str(script), gateway.address, topic, cwd=tmp_path, env=env,
                         timeout=300).strip().splitlines()[-1])
    assert sorted(out["ids"]) == sorted(official)
    executable, module = out["executor"]
    assert Path(executable).parent == fresh_python.parent
    assert module.startswith(str(fresh_python.parents[1]))
