#!/bin/bash
# EMR bootstrap action for crisislake: Python 3.11 with the job runtime on every node.
#
# Every node gets the packages executors import (pandas/pyarrow for pandas UDFs, the Python
# halves of Delta and Spark NLP); the primary node alone gets what only the driver uses (boto3
# for the Redshift Data API, scikit-learn for `crisislake train`) and the folder where the steps stage the run
# config. pyspark itself is EMR's own (/usr/lib/spark/python), so it is never pip-installed.
# Installs use --no-deps with the full, pinned dependency closure: nothing floats.
set -euo pipefail

PYTHON="${CRISISLAKE_PYTHON:-/usr/bin/python3.11}"
INSTANCE_INFO="${CRISISLAKE_INSTANCE_INFO:-/mnt/var/lib/info/instance.json}"
WORKDIR="${CRISISLAKE_WORKDIR:-/home/hadoop/crisislake}"

# Pins match requirements-dev.txt / the local test environment (CPython 3.11, manylinux x86-64).
ALL_NODES=(
  "numpy==1.26.4"
  "pandas==2.2.3"
  "python-dateutil==2.9.0.post0"
  "six==1.17.0"
  "pytz==2026.6"
  "tzdata==2026.6"
  "pyarrow==17.0.0"
  "orjson==3.11.4"
  "msgspec==0.20.0"
  "delta-spark==3.3.2"
  "importlib_metadata==10.2.0"
  "zipp==4.1.2"
  "spark-nlp==5.5.3"
)
PRIMARY_ONLY=(
  "boto3==1.44.8"
  "botocore==1.44.8"
  "jmespath==1.1.0"
  "s3transfer==0.19.3"
  "urllib3==2.8.0"
  "certifi==2026.10.19.post1"
  "scikit-learn==1.5.2"
  "scipy==1.17.1"
  "joblib==1.6.0"
  "threadpoolctl==3.8.0"
)

is_primary() {
  grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$INSTANCE_INFO"
}

pip_install() {
  sudo "$PYTHON" -m pip install --quiet --no-cache-dir --no-deps "$@"
}

main() {
  if [[ ! -x "$PYTHON" ]]; then
    # Amazon Linux 2023 repositories are locked to the AMI's release version, so this resolves to
    # the same python3.11 build for a given EMR release label.
    sudo dnf install -y python3.11 python3.11-pip
  fi
  pip_install "${ALL_NODES[@]}"
  if is_primary; then
    pip_install "${PRIMARY_ONLY[@]}"
    mkdir -p "$WORKDIR"
  fi
  # delta and sparknlp import pyspark, which EMR installs after bootstrap actions; check the rest.
  "$PYTHON" -c 'import numpy, pandas, pyarrow, orjson, msgspec'
}

main "$@"
