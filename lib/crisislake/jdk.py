"""Where the JDK and the JVM cache are: the one place that looks for ``java``.

The Spark session checks the Java version here before starting. Imports nothing of the areas.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from crisislake.errors import CrisislakeError

SUPPORTED_JAVA = (8, 11, 17, 21)
INSTALL_HINT = "install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"


class JavaNotFoundError(CrisislakeError, RuntimeError):
    """No usable Java here; the message says what to install."""


def jvm_cache_root() -> Path:
    """Where resolved JVM packages and locally compiled jars are cached (``$CRISISLAKE_JVM_CACHE``)."""
    return Path(os.environ.get("CRISISLAKE_JVM_CACHE", Path.home() / ".cache" / "crisislake" / "jvm"))


def java_executable(tool: str = "java") -> Optional[str]:
    """``tool`` of the JDK (``java``): from ``JAVA_HOME`` when it has it, else PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / tool
        if candidate.is_file():
            return str(candidate)
    return shutil.which(tool)


def parse_java_major(version_output: str) -> Optional[int]:
    """Major Java version from ``java -version`` output.

    >>> parse_java_major('openjdk version "17.0.15" 2025-04-15')
    17
    >>> parse_java_major('java version "1.8.0_412"')
    8
    """
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def check_java() -> int:
    """Return the Java major version, or raise :class:`JavaNotFoundError` saying what to install."""
    java = java_executable()
    if not java:
        raise JavaNotFoundError(f"Java was not found on PATH or in JAVA_HOME: {INSTALL_HINT}")
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaNotFoundError(f"{java} -version failed ({exc}): {INSTALL_HINT}") from exc
    major = parse_java_major(proc.stderr + proc.stdout)
    if major is None:
        raise JavaNotFoundError(f"cannot read the Java version from {java}: {INSTALL_HINT}")
    if major not in SUPPORTED_JAVA:
        raise JavaNotFoundError(
            f"Java {major} at {java} is not supported by Spark 3.5 (needs one of "
            f"{', '.join(map(str, SUPPORTED_JAVA))}): {INSTALL_HINT}"
        )
    return major
