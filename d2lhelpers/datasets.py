"""Data set records: what the course knows about each data set, in one place.

A record holds the files, URLs, checksums, sizes, system locations and how to get the
data. Loaders, downloads, the tests' data check and `00_setup` all read these records;
`DATA_HUB` is derived from them.

Checksums. `checksum` is what the publisher gives for the file at the URL: a SHA-1 for
airfoil (d2l's hub), an MD5 for Fashion-MNIST (Zalando's README). It verifies a
download. `content_sha256` is the SHA-256 of the uncompressed bytes, used where a copy
may be compressed differently: Debian recompressed Fashion-MNIST's files, so their MD5s
differ, yet every faithful copy has the same content. Airfoil is not compressed, so its
SHA-1 already checks its content and it has no `content_sha256`.

Sizes, measured on the real files. `content_bytes` is the uncompressed size (airfoil's
file in the data root; `zcat | wc -c` of Debian's Fashion-MNIST). `download_bytes` is
the size of the file at the canonical URL: airfoil's is its content; Fashion-MNIST's are
the sizes its canonical files are served with (the four `Content-Length`s torchvision and
Keras report while downloading them). Debian's copies are 23 or 24 bytes smaller each
(26421856, 29491, 4422079 and 5125 bytes): its recompression dropped the original file
name from the gzip header.

Caps. A read never inflates more than `content_bytes` + 1 bytes: a longer file is not
the original, whatever it holds. A download is refused once it passes
`max_download_bytes`, `content_bytes` plus 1/16 and 64 KiB: no faithful copy, gzip-
compressed at any level or stored uncompressed, is that large, so a mirror that
compresses differently still fits, and an endless or wrong body stops after a few
megabytes at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .settings import DATA_DIR, data_root

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


@dataclass(frozen=True)
class DataFile:
    """One file of a data set: its `DATA_HUB` name, file name, URL, checksums and sizes."""

    hub_name: str
    name: str
    url: str
    checksum: str
    download_bytes: int
    content_bytes: int
    content_sha256: str | None = None

    @property
    def max_download_bytes(self) -> int:
        """The most bytes a download of this file may bring (see the module docstring)."""
        return self.content_bytes + self.content_bytes // 16 + (64 << 10)


@dataclass
class DataSet:
    """A data set: its files (by key), where they are looked for, and how to get them.

    The files live in `subfolder` of the data root (`""`: the root itself), else in one
    of `system_dirs`, where an operating system's package (`debian_package`) installs
    them. `system_dirs` is a list that tests and offline runs may empty.
    """

    name: str
    about: str
    subfolder: str
    files: dict[str, DataFile]
    system_dirs: list[Path] = field(default_factory=list)
    debian_package: str | None = None

    def folder(self) -> Path:
        """The folder of the data root the files are read from and downloaded to."""
        return data_root() / self.subfolder

    def locate(self) -> dict[str, Path | None]:
        """Where each file is found (data root first, then system folders), or None."""
        folders = [self.folder(), *self.system_dirs]
        return {
            key: next((d / f.name for d in folders if _is_file(d / f.name)), None)
            for key, f in self.files.items()
        }

    def how_to(self, missing: Iterable[str]) -> str:
        """Say which files are missing, where they were looked for, and how to get them."""
        wanted = [self.files[key] for key in missing]
        folder, one = self.folder(), len(wanted) == 1
        urls = [DATA_HUB.get(f.hub_name, (f.url, None))[0] for f in wanted]
        inside = (
            f"{self.subfolder}/ with its {len(self.files)} files"
            if self.subfolder
            else ", ".join(f.name for f in self.files.values())
        )
        lines = [
            f"{self.name} is missing {', '.join(f.name for f in wanted)}.",
            "Looked in:",
            *(f"  {d}" for d in [folder, *self.system_dirs]),
            "To get it:",
        ]
        if self.debian_package:
            lines.append(f"- on Debian or Ubuntu: sudo apt-get install {self.debian_package}")
        lines += [
            f"- {'elsewhere, ' if self.debian_package else ''}download "
            f"{'this file' if one else 'these files'} (on any connected machine):",
            *(f"  {url}" for url in urls),
            f"  and save {'it' if one else 'them'}, unchanged, "
            + (f"as {folder / wanted[0].name}" if one else f"in {folder}"),
            f"- or set {DATA_DIR} to a folder that holds {inside}.",
        ]
        return "\n".join(lines)

    def describe(self) -> str:
        """Where each file was found; for those found nowhere, how to get them."""
        found = self.locate()
        lines = [f"{self.name} ({self.about}):"]
        lines += [f"  {self.files[key].name}: {path or 'not found'}" for key, path in found.items()]
        missing = [key for key, path in found.items() if path is None]
        if missing:
            lines += ["It is downloaded on first use. Where that fails:", self.how_to(missing)]
        return "\n".join(lines)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # an unreadable or overlong path holds nothing we can use
        return False


AIRFOIL = DataSet(
    name="airfoil",
    about="NASA's airfoil self-noise table, 1,503 rows of 6 numbers; chapters 03-08 and 11",
    subfolder="",
    files={
        "airfoil": DataFile(
            hub_name="airfoil",
            name="airfoil_self_noise.dat",
            url=DATA_URL + "airfoil_self_noise.dat",
            checksum="76e5be1548fd8222e5074cf0faae75edff8cf93f",
            download_bytes=59_984,
            content_bytes=59_984,
        )
    },
)

FASHION_MNIST = DataSet(
    name="Fashion-MNIST",
    about="Zalando's 70,000 labelled 28 x 28 images of clothes; chapters 08-12",
    subfolder="FashionMNIST/raw",  # torchvision's layout
    files={
        "train-images": DataFile(
            hub_name="fashion-mnist-train-images",
            name="train-images-idx3-ubyte.gz",
            url=FASHION_MNIST_URL + "train-images-idx3-ubyte.gz",
            checksum="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            download_bytes=26_421_880,
            content_bytes=47_040_016,
            content_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train-labels": DataFile(
            hub_name="fashion-mnist-train-labels",
            name="train-labels-idx1-ubyte.gz",
            url=FASHION_MNIST_URL + "train-labels-idx1-ubyte.gz",
            checksum="25c81989df183df01b3e8a0aad5dffbe",
            download_bytes=29_515,
            content_bytes=60_008,
            content_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test-images": DataFile(
            hub_name="fashion-mnist-test-images",
            name="t10k-images-idx3-ubyte.gz",
            url=FASHION_MNIST_URL + "t10k-images-idx3-ubyte.gz",
            checksum="bef4ecab320f06d8554ea6380940ec79",
            download_bytes=4_422_102,
            content_bytes=7_840_016,
            content_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "test-labels": DataFile(
            hub_name="fashion-mnist-test-labels",
            name="t10k-labels-idx1-ubyte.gz",
            url=FASHION_MNIST_URL + "t10k-labels-idx1-ubyte.gz",
            checksum="bb300cfdad3c16e7a12a480ee83cd310",
            download_bytes=5_148,
            content_bytes=10_008,
            content_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    system_dirs=[Path("/usr/share/datasets/fashion-mnist")],
    debian_package="dataset-fashion-mnist",
)

DATASETS = (AIRFOIL, FASHION_MNIST)

# d2l's registry, name -> (url, checksum); learners may add their own entries to it.
DATA_HUB: dict[str, tuple[str, str | None]] = {
    f.hub_name: (f.url, f.checksum) for data_set in DATASETS for f in data_set.files.values()
}


def hub_file(hub_name: str) -> DataFile | None:
    """The record of the `DATA_HUB` entry `hub_name`, or None for an entry we have none of."""
    return next(
        (f for data_set in DATASETS for f in data_set.files.values() if f.hub_name == hub_name),
        None,
    )
