"""trafficsim.files: atomic writes, bounded reads, crash-safe folder replacement, each with real files,
real processes (kill injection, concurrent writers) and real failures (read-only folders, full disks)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from trafficsim import files
from trafficsim.errors import InputError, OutputError, ResultsError, TrafficsimError

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
LINUX = sys.platform.startswith("linux")


def _one_line(e: BaseException, path: object) -> None:
    text = str(e)
    assert "\n" not in text and text.startswith(f"{path}: "), text


def _no_temps(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------------------------------
def test_atomic_write_replaces_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "sub" / "a.csv"
    files.atomic_write_text(target, "one\r\ntwo\n")
    assert target.read_bytes() == b"one\r\ntwo\n"  # newlines as given
    files.atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    files.atomic_write_text(target, "caf\u00e9 \udc80")  # a lone surrogate is escaped, not an error
    assert target.read_text(encoding="utf-8") == "caf\u00e9 \\udc80"
    _no_temps(target.parent)
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~old_umask  # like open(): the umask applies


def test_the_old_helper_is_the_new_one():
    from trafficsim import topology

    assert topology.atomic_write_text is files.atomic_write_text


def test_a_planted_symlink_is_never_followed(tmp_path, monkeypatch):
    """The temporary file is created with O_EXCL: a symlink planted at its name is not written through (the
    old helper opened the predictable '.NAME.tmpPID' following symlinks: one user could make another
    overwrite any file of theirs)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    # the name the old helper used, and the next name the new one will pick
    (shared / f".out.csv.tmp{os.getpid()}").symlink_to(victim)
    tokens = iter(["a" * 12, "b" * 12])
    monkeypatch.setattr(files, "_token", lambda: next(tokens))
    (shared / f".out.csv.{'a' * 12}.tmp").symlink_to(victim)
    files.atomic_write_text(shared / "out.csv", "data\n")
    assert victim.read_text() == "precious\n"
    assert (shared / "out.csv").read_text() == "data\n" and not (shared / "out.csv").is_symlink()
    assert (shared / f".out.csv.{'a' * 12}.tmp").is_symlink()  # left alone
    assert not (shared / f".out.csv.{'b' * 12}.tmp").exists()


@pytest.mark.parametrize("case", ["file_as_folder", "file_sub", "devnull_folder", "devnull_file", "folder_target"])
def test_output_errors_are_one_line(tmp_path, case):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep")
    target, culprit = {
        "file_as_folder": (blocker / "x.csv", blocker),
        "file_sub": (blocker / "sub" / "x.csv", blocker),
        "devnull_folder": (Path("/dev/null/x.csv"), Path("/dev/null")),
        "devnull_file": (Path("/dev/null"), Path("/dev/null")),  # never replace a device (root could)
        "folder_target": (tmp_path, tmp_path),
    }[case]
    if "devnull" in case and not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    with pytest.raises(OutputError) as info:
        files.atomic_write_text(target, "x")
    _one_line(info.value, culprit)
    assert isinstance(info.value, TrafficsimError) and isinstance(info.value, OSError)
    assert blocker.read_text() == "keep"
    assert Path("/dev/null").exists() and not Path("/dev/null").is_file()
    _no_temps(tmp_path)


def _can_mount() -> bool:
    """True where this test may mount file systems in a private mount namespace (root on Linux)."""
    if not (LINUX and IS_ROOT and shutil.which("unshare") and shutil.which("mount")):
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_read_only_folder_is_one_line(tmp_path):
    """A folder without write permission (as an ordinary user), or a read-only bind mount (as root, who
    ignores permissions)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    target = ro / "out.csv"
    if not IS_ROOT:
        os.chmod(ro, 0o555)
        try:
            with pytest.raises(OutputError) as info:
                files.atomic_write_text(target, "x")
        finally:
            os.chmod(ro, 0o755)
        assert str(info.value) == f"{target}: permission denied"
        assert list(ro.iterdir()) == []
        return
    if not _can_mount():
        pytest.skip("root without mount namespaces: cannot make a folder read-only")
    code = textwrap.dedent(f"""
        from trafficsim.files import atomic_write_text, OutputError
        try:
            atomic_write_text({str(target)!r}, 'x')
        except OutputError as e:
            print(e)
    """)
    proc = subprocess.run(["unshare", "-m", "sh", "-c", f'mount --bind "{ro}" "{ro}" && '
                           f'mount -o remount,ro,bind "{ro}" && "{sys.executable}" -c "$0"', code],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout == f"{target}: read-only file system\n", proc.stderr
    assert list(ro.iterdir()) == []


def test_full_disk_is_one_line(tmp_path):
    """A real full file system (a 64 kB tmpfs in a private mount namespace) where that is allowed; else a
    file-size limit (EFBIG), which takes the same path through the code."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if sys.argv[1] == "rlimit":
            resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        from trafficsim.files import atomic_write_text, OutputError
        try:
            atomic_write_text({str(mnt / 'big.csv')!r}, 'x' * 200_000)
        except OutputError as e:
            print(e)
    """)
    if _can_mount():
        cmd = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "{mnt}" && '
               f'"{sys.executable}" -c "$0" tmpfs && ls -a "{mnt}"', code]
        expect = "no space left on device"
    else:
        cmd = [sys.executable, "-c", code, "rlimit"]
        expect = "file too large"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{mnt / 'big.csv'}: {expect}", proc.stderr
    assert [ln for ln in lines[1:] if ln not in (".", "..")] == []  # no temporary left on the full disk
    assert not (mnt / "big.csv").exists()


# ---------------------------------------------------------------------------------------------------------------
# bounded reads
# ---------------------------------------------------------------------------------------------------------------
def _returns_within(fn, seconds: float = 30.0):
    """Call ``fn`` in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked (a FIFO opened for reading waits for a writer)"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "topo.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as info:
        _returns_within(lambda: files.read_text_bounded(fifo, what="topology CSV"))
    assert str(info.value) == f"{fifo}: a named pipe (FIFO), not a topology CSV; give a regular file"


def test_devices_folders_and_missing_files_are_refused(tmp_path):
    if Path("/dev/zero").exists():
        with pytest.raises(ResultsError) as info:
            _returns_within(lambda: files.read_bytes_bounded("/dev/zero", what="cache file", error=ResultsError))
        assert str(info.value) == "/dev/zero: a device, not a cache file; give a regular file"
    with pytest.raises(InputError) as info:
        files.read_text_bounded(tmp_path, what=".cfg file")
    assert str(info.value) == f"{tmp_path}: is a folder, not a .cfg file"
    with pytest.raises(InputError) as info:
        files.read_text_bounded(tmp_path / "nope.csv", what="topology CSV")
    assert str(info.value) == f"{tmp_path / 'nope.csv'}: no such topology CSV"


def test_size_bound(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 1001)
    with pytest.raises(InputError) as info:
        files.read_bytes_bounded(big, what="summary", max_bytes=1000)
    assert str(info.value) == f"{big}: summary too large (1,001 bytes; the limit is 1,000)"
    assert files.read_bytes_bounded(big, max_bytes=1001) == b"x" * 1001


def test_text_encodings(tmp_path):
    p = tmp_path / "t.cfg"
    p.write_bytes(b"\xef\xbb\xbf[general]\r\nrun_name = x\r\n")
    assert files.read_text_bounded(p) == "[general]\nrun_name = x\n"
    assert files.read_text_bounded(p, universal_newlines=False) == "[general]\r\nrun_name = x\r\n"
    p.write_bytes("[general]\n".encode("utf-16"))
    assert files.read_text_bounded(p) == "[general]\n"
    p.write_bytes(b"ok\n\xff\xfeno")
    with pytest.raises(InputError) as info:
        files.read_text_bounded(p, what=".cfg file")
    assert str(info.value) == f"{p}: .cfg file is not UTF-8 text (bad byte at offset 3)"


# ---------------------------------------------------------------------------------------------------------------
# folder replacement
# ---------------------------------------------------------------------------------------------------------------
def _folder(parent: Path, name: str, tag: str) -> Path:
    tmp = files.make_temp_dir(parent, name)
    (tmp / "a.txt").write_text(tag)
    (tmp / "b.txt").write_text(tag)
    return tmp


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "fallback"])
def test_replace_dir(tmp_path, swap):
    final = tmp_path / "run"
    assert files.replace_dir_atomically(_folder(tmp_path, "run", "1"), final, _swap=swap) is False
    assert files.replace_dir_atomically(_folder(tmp_path, "run", "2"), final, _swap=swap) is True
    assert (final / "a.txt").read_text() == "2" and (final / "b.txt").read_text() == "2"
    _no_temps(tmp_path)
    (tmp_path / "file").write_text("keep")
    with pytest.raises(OutputError) as info:
        files.replace_dir_atomically(_folder(tmp_path, "file", "3"), tmp_path / "file", _swap=swap)
    assert str(info.value) == f"{tmp_path / 'file'}: exists and is not a folder; not replacing it"
    assert (tmp_path / "file").read_text() == "keep"


def test_new_folders_get_the_usual_permissions(tmp_path):
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    tmp = files.make_temp_dir(tmp_path, "run")
    assert os.stat(tmp).st_mode & 0o777 == 0o777 & ~old_umask  # mkdtemp's 0700 would hide run folders
    assert files._TEMP_RE.match(tmp.name)


# A child process that replaces <parent>/run with a new folder and kills itself (SIGKILL: no clean-up runs) right
# after the N-th rename system call of the replacement.
_KILL_CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from trafficsim import files
    parent, kill_after, swap = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "swap"
    calls = [0]
    def counted(fn):
        def wrapper(*a, **k):
            out = fn(*a, **k)
            calls[0] += 1
            if calls[0] == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        return wrapper
    files._rename2 = counted(files._rename2)
    os.rename = counted(os.rename)
    tmp = files.make_temp_dir(parent, "run")
    for name in ("a.txt", "b.txt"):
        (tmp / name).write_text("new")
    files.replace_dir_atomically(tmp, parent / "run", _swap=swap)
""")


def _complete(folder: Path) -> str | None:
    """The tag of a complete folder (both files, same tag), else None."""
    try:
        a, b = (folder / "a.txt").read_text(), (folder / "b.txt").read_text()
    except OSError:
        return None
    return a if a == b else None


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "fallback"])
def test_kill_during_replacement(tmp_path, swap):
    """SIGKILL after each rename of a replacement. renameat2: the folder is complete at every point. Fallback: a
    kill between 'rename aside' and 'rename in' leaves no folder, and remove_stale_temps() restores the old one."""
    if swap and files._get_renameat2() is None:
        pytest.skip("no renameat2 here")
    outcomes = []
    for kill_after in (1, 2):
        parent = tmp_path / f"k{kill_after}"
        parent.mkdir()
        final = parent / "run"
        final.mkdir()
        (final / "a.txt").write_text("old")
        (final / "b.txt").write_text("old")
        proc = subprocess.run([sys.executable, "-c", _KILL_CHILD, str(parent), str(kill_after),
                               "swap" if swap else "fallback"], capture_output=True, text=True, timeout=120)
        assert proc.returncode in (-signal.SIGKILL, 0), proc.stderr
        visible = _complete(final)
        files.remove_stale_temps(parent, min_age_s=0)
        outcomes.append((proc.returncode == -signal.SIGKILL, visible, _complete(final)))
        _no_temps(parent)
    if swap:  # one exchange: killed right after it, the new folder is there; nothing else to kill after
        assert outcomes == [(True, "new", "new"), (False, "new", "new")]
    else:  # killed after the rename aside: nothing visible until the clean-up puts the old folder back
        assert outcomes == [(True, None, "old"), (True, "new", "new")]


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from trafficsim import files
    parent, who, n, swap = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "swap"
    errors = 0
    for i in range(n):
        tmp = files.make_temp_dir(parent, "run")
        for name in ("a.txt", "b.txt"):
            (tmp / name).write_text(f"{who}.{i}")
        try:
            files.replace_dir_atomically(tmp, parent / "run", _swap=swap)
        except Exception as e:
            errors += 1
            print(type(e).__name__, e, file=sys.stderr)
    print(errors)
""")


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "fallback"])
def test_concurrent_writers(tmp_path, swap):
    """Four processes replace one folder 100 times each while this process keeps looking at it: no writer
    fails, and with renameat2 the name never disappears (the fallback leaves it missing for a moment between
    its two renames). What a reader finds inside is always a finished folder: only finished folders are moved
    in (a reader that opens the files one by one may still meet two versions, or a removed old one)."""
    if swap and files._get_renameat2() is None:
        pytest.skip("no renameat2 here")
    final = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), f"w{k}", "100",
                               "swap" if swap else "fallback"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for k in range(4)]
    looks, missing = 0, 0
    while any(p.poll() is None for p in procs):
        if looks or final.exists():
            looks += 1
            missing += not final.is_dir()
    outs = [p.communicate(timeout=300) for p in procs]
    assert [o.strip() for o, _ in outs] == ["0"] * 4, [e for _, e in outs]
    tag = _complete(final)
    assert tag is not None and tag.endswith(".99")
    _no_temps(tmp_path)
    if swap:
        assert missing == 0, f"{missing} of {looks} looks found no folder"


def test_stale_temps_only_ours_and_only_old(tmp_path):
    old = time.time() - 2 * files.STALE_AGE_S
    stale = files.make_temp_dir(tmp_path, "run-a")
    (stale / "x").write_text("half")
    fresh = files.make_temp_dir(tmp_path, "run-b")  # a live writer's
    aside = tmp_path / ".run-c.0123456789ab.old"  # set aside by an interrupted fallback; run-c is missing
    aside.mkdir()
    (aside / "summary.json").write_text("{}")
    user = tmp_path / ".run-d.keep"  # not our name pattern
    user.mkdir()
    link_target = tmp_path / "target"
    link_target.mkdir()
    link = tmp_path / ".run-e.0123456789ab.tmp"
    link.symlink_to(link_target)
    stale_file = tmp_path / ".x.csv.0123456789ab.tmp"
    stale_file.write_text("half")
    for p in (stale, aside, user, stale_file):
        os.utime(p, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    done = files.remove_stale_temps(tmp_path)
    assert sorted(p.name for p in done) == sorted([stale.name, aside.name, stale_file.name])
    assert not stale.exists() and fresh.exists() and user.exists() and link.is_symlink() and link_target.exists()
    assert json.loads((tmp_path / "run-c" / "summary.json").read_text()) == {}
