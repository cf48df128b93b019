"""Archives: check every member of a zip or tar file before anything is written, then extract.

The whole archive is refused (a `ValueError` naming the member) for a link (symbolic or
hard), a device or pipe, a path that is absolute, climbs with `..` or lands outside the
folder, a name used both as a file and as a folder (in the archive, or against what is
on disk), a member named like the archive itself, more than `MAX_MEMBERS` members, or
more than `MAX_EXPANSION` times the archive's size (plus 1 MiB) in all. Links are
refused outright: a chain of harmless-looking links can point out of the folder, and
the course's data sets have none. Tar headers are read one by one, so a bomb is refused
before its bulk is inflated; a zip's sizes are in its directory, and `zipfile` never
inflates a member past its declared size. Tar files are extracted with
`filter='data'` where Python has it, as a second line of defence.

Extraction goes into a scratch folder first, and the result is moved into place only
when all of it came out: a failure leaves nothing half-extracted. Folders merge with
those already there; files of the same name are replaced, as a new extraction should.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 100_000
MAX_EXPANSION = 100  # extracted bytes per byte of archive, at most (plus 1 MiB)


def _refuse(archive: str, member: str, why: str) -> ValueError:
    return ValueError(
        f"Refusing to extract {archive}: its member {member!r} {why}. Nothing was extracted; "
        "the archive is damaged or malicious; delete it and get it from a trusted source."
    )


def _check_path(base: Path, name: str, archive: str) -> None:
    """Refuse a member name that is absolute, climbs with `..`, or lands outside `base`."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        raise _refuse(archive, name, f"would land outside {base}")
    target = (base / name).resolve()
    if base != target and base not in target.parents:
        raise _refuse(archive, name, f"would land outside {base}")


def _check_sizes(archive: str, count: int, total: int, limit: int) -> None:
    if count > MAX_MEMBERS:
        raise _refuse(archive, f"#{count}", f"makes more than {MAX_MEMBERS} members")
    if total > limit:
        raise _refuse(
            archive, f"#{count}", f"brings the extracted size past {limit} bytes "
            f"({MAX_EXPANSION} times the archive's size): it looks like an archive bomb",
        )  # fmt: skip


def _tar_members(tf: tarfile.TarFile, base: Path, archive: str, limit: int) -> list:
    """Every member, checked header by header, so a bomb stops before its bulk is read."""
    members, total = [], 0
    for member in tf:
        total += member.size
        _check_sizes(archive, len(members) + 1, total, limit)
        _check_path(base, member.name, archive)
        if member.issym() or member.islnk():
            raise _refuse(archive, member.name, f"is a link (to {member.linkname!r})")
        if not (member.isfile() or member.isdir()):
            raise _refuse(archive, member.name, "is a device or pipe, not a file or folder")
        members.append(member)
    return members


def _zip_members(zf: zipfile.ZipFile, base: Path, archive: str, limit: int) -> list:
    infos = zf.infolist()
    _check_sizes(archive, len(infos), sum(i.file_size for i in infos), limit)
    for info in infos:
        _check_path(base, info.filename, archive)
        # Unix archivers (create_system 3) keep the file type in the high 16 bits; 0 = none.
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        if kind == stat.S_IFLNK:
            raise _refuse(archive, info.filename, "is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, info.filename, "is a device or pipe, not a file or folder")
    return infos


def _check_layout(entries: list[tuple[str, bool]], base: Path, archive: str) -> None:
    """Refuse a name used as a file and as a folder (in the archive or on disk), or the archive."""
    files, folders = set(), set()
    for name, is_dir in entries:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if parts:
            (folders if is_dir else files).add("/".join(parts))
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    for name in sorted(files & folders):
        raise _refuse(archive, name, "is both a file and a folder in the archive")
    if archive in files:
        raise _refuse(archive, archive, "has the archive's own name and would overwrite it")
    for name in sorted(files | folders):
        target = base / name
        if os.path.lexists(target) and target.is_dir() != (name in folders):
            kind = "folder" if target.is_dir() else "file"
            raise _refuse(archive, name, f"would have to replace the {kind} {target}")


def _move_into(src: Path, dst: Path) -> None:
    """Move the tree `src` into `dst`, file by file: folders merge, files are replaced."""
    for folder, _, names in os.walk(src):
        target = dst / os.path.relpath(folder, src)
        target.mkdir(exist_ok=True)
        for name in names:
            os.replace(os.path.join(folder, name), target / name)


def extract(archive: Path, into: Path, scratch: Path) -> None:
    """Check `archive` (a .zip or a tar file), extract it into `scratch`, then move it into `into`.

    `scratch` must not exist yet and must be on the same file system as `into`.
    """
    into = into.resolve()
    limit = MAX_EXPANSION * archive.stat().st_size + (1 << 20)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "r") as zf:
            infos = _zip_members(zf, into, archive.name, limit)
            _check_layout([(i.filename, i.is_dir()) for i in infos], into, archive.name)
            scratch.mkdir()
            zf.extractall(scratch)
    else:
        with tarfile.open(archive, "r") as tf:
            members = _tar_members(tf, into, archive.name, limit)
            _check_layout([(m.name, m.isdir()) for m in members], into, archive.name)
            scratch.mkdir()
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(scratch, members=members, **safe)
    _move_into(scratch, into)
