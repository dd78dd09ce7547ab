"""Build and load the native kernel library in torch's extensions folder.

The library is `<root>/<name>/<name>.so`, where `<root>` is torch's extensions folder and
`<name>` contains the vector ISA and a hash of the source and the compiler flags. A library of
that name is therefore built from exactly this source and is loaded without a compiler.

torch's build holds the lock file `<root>/<name>/lock` and waits without a time limit for a
lock that another process holds. A build killed by SIGKILL leaves the lock behind, so a lock
older than `STALE_LOCK_SECONDS` counts as abandoned and is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = [
    "STALE_LOCK_SECONDS",
    "BuildLocked",
    "build",
    "library_path",
    "load_cached",
    "search_path",
]

SOURCE = Path(__file__).with_name("fake_quant.cpp")
# A build takes about 10 s, so a lock this old belongs to a build that was killed.
STALE_LOCK_SECONDS = 300.0
LOCK_POLL_SECONDS = 0.5

logger = logging.getLogger(__name__)


class BuildLocked(Exception):
    """Another process holds the build lock, and the caller chose not to wait."""


def library_name() -> str:
    """Return the library's name: the vector ISA and a hash of the source and flags."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join(compiler_flags()).encode())
    return f"quantplan_fake_quant_{vector_isa()}_{digest.hexdigest()[:12]}"


def build_directory() -> Path:
    """Return `<root>/<name>`, with torch's root: TORCH_EXTENSIONS_DIR or its default."""
    from torch.utils.cpp_extension import get_default_build_root

    root = os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root()
    return Path(root) / library_name()


def library_path() -> Path:
    """Return where the built library is (or will be)."""
    return build_directory() / f"{library_name()}.so"


def load_cached() -> bool:
    """Load the library if it was built before; return whether it is loaded.

    A library that fails to load (a link cut short) is treated as missing, so it is rebuilt.
    """
    library = library_path()
    if not library.is_file():
        return False
    try:
        torch.ops.load_library(str(library))
    except OSError as error:
        logger.warning("Could not load %s (%s); building it again.", library, error)
        return False
    return True


def build(*, wait: bool) -> None:
    """Build and load the library; raises BuildLocked when another build runs and not `wait`."""
    from torch.utils import cpp_extension

    directory = build_directory()
    _clear_lock(directory / "lock", wait=wait)
    logger.info("Building the native fake-quant kernel once for this machine (about 10 s).")
    directory.mkdir(parents=True, exist_ok=True)
    with _ninja_on_path():
        cpp_extension.load(
            name=library_name(),
            sources=[str(SOURCE)],
            extra_cflags=compiler_flags(),
            build_directory=str(directory),
            is_python_module=False,
            verbose=False,
        )


def _clear_lock(lock: Path, *, wait: bool) -> None:
    """Remove an abandoned lock; wait for a live one, or raise BuildLocked."""
    while lock.exists():
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if age >= STALE_LOCK_SECONDS:
            logger.warning(
                "Removing %s, left %.0f s ago by a build that did not finish.", lock, age
            )
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            return
        if not wait:
            raise BuildLocked(
                f"another process is building it (lock file {lock}, {age:.0f} s old); "
                "if no build is running, delete that file"
            )
        time.sleep(LOCK_POLL_SECONDS)


def vector_isa() -> str:
    capability = torch.backends.cpu.get_cpu_capability().lower()
    if platform.machine().lower() in ("x86_64", "amd64") and capability.startswith("avx"):
        return "avx2"
    return "default"


def compiler_flags() -> list[str]:
    # No -ffast-math: the kernel's exactness depends on true division and ordered rounding.
    # -ffp-contract=off keeps `0.0f + q * s` two rounded operations rather than one FMA; both
    # give the same bits, but then the result does not rest on that argument.
    flags = ["-O3", "-ffp-contract=off"]
    if vector_isa() == "avx2":
        flags.append("-mavx2")
    return flags


def search_path() -> str:
    """Return PATH with the `ninja` pip package's binary folder first, if that is installed.

    A virtualenv's bin folder, where pip puts ninja, is on PATH only while it is activated.
    """
    path = os.environ.get("PATH", "")
    try:
        import ninja
    except ImportError:
        return path
    return os.pathsep.join([ninja.BIN_DIR, path])


@contextlib.contextmanager
def _ninja_on_path() -> Iterator[None]:
    """Run the block with `search_path()` as PATH, so that torch's build finds ninja."""
    original = os.environ.get("PATH", "")
    os.environ["PATH"] = search_path()
    try:
        yield
    finally:
        os.environ["PATH"] = original
