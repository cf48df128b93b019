"""A download is bounded: one deadline for all of it, a size cap, and only what it can trust.

Against loopback servers that misbehave on purpose (tests/loopback.py): slow headers,
slow redirects, endless bodies, lying lengths, control characters. Each fault must be a
`DownloadError` (or a `ValueError` for a bad DATA_HUB entry) within seconds, leaving
nothing behind.
"""

import importlib
import time

import pytest
from loopback import TLS_PEM, headers, raw_server, redirect_server, register

import d2lhelpers as d2l
from d2lhelpers.datasets import AIRFOIL

dl = importlib.import_module("d2lhelpers.download")

AIRFOIL_FILE = AIRFOIL.files["airfoil"]


@pytest.fixture
def short_timeouts(monkeypatch):
    """A stall after 0.5 s, the deadline after 1 s."""
    monkeypatch.setattr(dl, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(dl, "DEADLINE", 1.0)


def _fails_within(seconds: float, name: str = "f") -> str:
    """Download `name`; it must raise a DownloadError within `seconds`; return its message."""
    begin = time.monotonic()
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download(name)
    assert time.monotonic() - begin < seconds
    return str(info.value)


# --- one deadline for connecting, headers, redirects and body ----------------------------


def test_headers_that_trickle_in_are_cut_off_at_the_deadline(data_dir, monkeypatch, short_timeouts):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not stop.wait(0.1):  # one byte every 0.1 s: never a stall
            conn.sendall(b"a")

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"x")
        message = _fails_within(2.5)
    assert "did not finish within 1 seconds" in message and base + "f.dat" in message
    assert list(data_dir.iterdir()) == []


def test_over_tls_a_download_works_and_trickling_headers_meet_the_deadline(
    data_dir, monkeypatch, short_timeouts
):
    """The deadline shuts the socket under TLS too (the handshake included)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_PEM))

    def whole(conn, stop):
        conn.sendall(headers(5) + b"hello")

    with raw_server(whole, tls=True) as base:
        register(monkeypatch, "f", base + "f.dat", b"hello")
        assert d2l.download("f") == str(data_dir / "f.dat")
    (data_dir / "f.dat").unlink()

    def trickle(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not stop.wait(0.1):
            conn.sendall(b"a")

    with raw_server(trickle, tls=True) as base:
        register(monkeypatch, "f", base + "f.dat", b"hello")
        message = _fails_within(2.5)
    assert "did not finish within 1 seconds" in message and base.startswith("https://")
    assert list(data_dir.iterdir()) == []


def test_slow_redirects_share_the_one_deadline(data_dir, monkeypatch, short_timeouts):
    with redirect_server(hops=4, delay=0.4, payload=b"x") as url:
        register(monkeypatch, "f", url, b"x")
        message = _fails_within(2.5)
    assert "did not finish within 1 seconds" in message
    assert list(data_dir.iterdir()) == []


def test_quick_redirects_are_followed_up_to_five(data_dir, monkeypatch):
    with redirect_server(hops=5, delay=0, payload=b"hello") as url:
        register(monkeypatch, "f", url, b"hello")
        assert d2l.download("f") == str(data_dir / "f.dat")
    assert (data_dir / "f.dat").read_bytes() == b"hello"


def test_a_sixth_redirect_is_refused(data_dir, monkeypatch):
    with redirect_server(hops=6, delay=0, payload=b"hello") as url:
        register(monkeypatch, "f", url, b"hello")
        message = _fails_within(10)
    assert "more than 5 redirects" in message
    assert list(data_dir.iterdir()) == []


def test_a_redirect_to_another_scheme_is_refused(data_dir, monkeypatch):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 302 Found\r\nLocation: ftp://127.0.0.1/f.dat\r\n\r\n")

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"x")
        message = _fails_within(10)
    assert "redirected to ftp://127.0.0.1/f.dat, which is not an http(s) URL" in message


# --- the size cap ----------------------------------------------------------------------


def _endless(conn, stop):
    """A 200 with no Content-Length, then zeros as fast as the client takes them."""
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
    block = bytes(1 << 16)
    while not stop.is_set():
        conn.sendall(block)


def test_an_endless_body_ends_in_seconds_at_the_size_cap_leaving_nothing(data_dir, monkeypatch):
    """The size-and-time budget, with the real records and the default timeouts."""
    with raw_server(_endless) as base:
        url = base + AIRFOIL_FILE.name
        monkeypatch.setitem(d2l.DATA_HUB, "airfoil", (url, AIRFOIL_FILE.checksum))
        message = _fails_within(5, "airfoil")
    cap = AIRFOIL_FILE.max_download_bytes
    assert f"more than the {cap} bytes airfoil_self_noise.dat can be" in message
    assert "was stopped after" in message and "DATA_HUB['airfoil']" in message
    assert list(data_dir.iterdir()) == []


def test_an_endless_trickle_ends_at_the_deadline_leaving_nothing(
    data_dir, monkeypatch, short_timeouts
):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        while not stop.wait(0.05):
            conn.sendall(bytes(100))

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"x")
        message = _fails_within(2.5)
    assert "did not finish within 1 seconds" in message
    assert list(data_dir.iterdir()) == []


def test_a_file_without_a_record_is_capped_too(data_dir, monkeypatch):
    monkeypatch.setattr(dl, "MAX_UNKNOWN_BYTES", 1 << 20)
    with raw_server(_endless) as base:
        register(monkeypatch, "f", base + "f.dat", b"x")
        message = _fails_within(5)
    assert f"more than the {1 << 20} bytes f.dat can be" in message
    assert list(data_dir.iterdir()) == []


def test_a_declared_length_over_the_cap_is_refused_before_the_body(data_dir, monkeypatch):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
        _endless(conn, stop)

    with raw_server(respond) as base:
        register(monkeypatch, "airfoil", base + AIRFOIL_FILE.name, b"x")
        message = _fails_within(5, "airfoil")
    assert "was refused: the server announced 1000000000000 bytes, more than the" in message
    assert list(data_dir.iterdir()) == []


# --- what the server says --------------------------------------------------------------


def test_an_invalid_content_length_is_refused(data_dir, monkeypatch):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: \xb2\r\n\r\nhello")

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"hello")
        message = _fails_within(5)
    assert "the server sent the invalid Content-Length '²'" in message
    assert list(data_dir.iterdir()) == []


def test_control_characters_from_the_server_are_escaped(data_dir, monkeypatch):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 404 \x1b[2J\x07Gone\r\nContent-Length: 0\r\n\r\n")

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"x")
        message = _fails_within(5)
    assert "HTTP 404: \\x1b[2J\\x07Gone" in message
    assert "\x1b" not in message and "\x07" not in message


def test_without_a_checksum_a_body_of_unknown_length_is_not_trusted(data_dir, monkeypatch):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")  # ends where the connection ends

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat")  # no checksum
        message = _fails_within(5)
    assert "did not say how long the file is and DATA_HUB has no checksum" in message
    assert "DATA_HUB['f'] = (url, sha1)" in message
    assert list(data_dir.iterdir()) == []


def test_without_a_checksum_a_body_of_declared_length_is_saved(data_dir, monkeypatch):
    def respond(conn, stop):
        conn.sendall(headers(5) + b"hello")

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat")
        assert d2l.download("f") == str(data_dir / "f.dat")
    assert (data_dir / "f.dat").read_bytes() == b"hello"


@pytest.mark.parametrize("checksum", ["z" * 40, "0" * 39, "0" * 64, 12345])
def test_a_malformed_checksum_is_refused_before_any_download(
    data_dir, dead_url, monkeypatch, checksum
):
    monkeypatch.setitem(d2l.DATA_HUB, "f", (dead_url + "f.dat", checksum))
    with pytest.raises(ValueError, match=r"DATA_HUB\['f'\] has the checksum .*: expected an MD5"):
        d2l.download("f")
    assert list(data_dir.iterdir()) == []


def test_an_upper_case_checksum_is_understood(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello")
    digest = register(monkeypatch, "f", base + "f.dat", b"hello")
    monkeypatch.setitem(d2l.DATA_HUB, "f", (base + "f.dat", digest.upper()))
    assert d2l.download("f") == str(data_dir / "f.dat")


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://h/a\\..\\..\\x.dat", "not a safe file name"),
        ("http://h/dir/..", "not a safe file name"),
        ("http://h/c:x.dat", "not a safe file name"),
        ("file:///etc/passwd", "only http:// and https:// URLs"),
        ("ftp://h/x.dat", "only http:// and https:// URLs"),
    ],
)
def test_urls_that_would_save_outside_the_folder_or_read_locally_are_refused(
    data_dir, monkeypatch, url, says
):
    monkeypatch.setitem(d2l.DATA_HUB, "f", (url, None))
    with pytest.raises(ValueError, match=says):
        d2l.download("f")
    assert list(data_dir.iterdir()) == [] and not (data_dir.parent / "x.dat").exists()
