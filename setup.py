"""Installs the ``crisislake`` package from ``lib/`` and its console command."""
from pathlib import Path

from setuptools import find_packages, setup

about = {}
exec((Path(__file__).parent / "lib" / "crisislake" / "__init__.py").read_text(), about)

setup(
    name="crisislake",
    version=about["__version__"],
    description="Humanitarian data lakehouse on Apache Spark",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    # EMR 7 steps run Python 3.11 (the bootstrap installs it); the pins need 3.10 or newer.
    python_requires=">=3.10",
    install_requires=[
        # EMR 7.x: Spark 3.5, Delta 3.3. Spark NLP 5.5.3 is the newest whose JVM artefact
        # Maven Central serves here (every 6.x coordinate answers 404); see README.
        "pyspark==3.5.5",
        "delta-spark==3.3.2",
        "spark-nlp==5.5.3",
        "boto3==1.44.8",
        "pyarrow==17.0.0",
        "msgspec==0.20.0",
    ],
    extras_require={
        "local": ["numpy==1.26.4", "pandas==2.2.3", "orjson==3.11.4", "psycopg[binary]==3.3.9"],
        # `crisislake serve` and `crisislake report` (not needed on EMR)
        "serve": ["psycopg[binary]==3.3.9", "psycopg-pool==3.3.3", "fastapi==0.165.0", "uvicorn==0.55.0",
                  "orjson==3.11.4", "swagger-ui-bundle-v2==5.31.0"],
        "report": ["psycopg[binary]==3.3.9", "plotly==7.1.0"],
    },
    package_data={"crisislake.report": ["assets/*"]},
    entry_points={"console_scripts": ["crisislake=crisislake.cli:main"]},
)
