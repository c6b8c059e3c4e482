"""load_mnist(download=True) against local HTTP servers on 127.0.0.1; never the internet.

Each server runs in a daemon thread on an OS-chosen port and serves IDX files generated here, with
MD5 sums computed here. Every network call has a short timeout so nothing can hang.
"""

import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn.data import ChecksumError, DownloadError, load_mnist
from tinygrad_nn.data.download import MD5, download_file

TIMEOUT = 5.0
NAMES = {
    True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def idx_u8(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def make_files(seed: int = 0) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """Gzip IDX bytes for the four standard names, and the arrays they hold."""
    rng = np.random.default_rng(seed)
    files, arrays = {}, {}
    for train, n in ((True, 6), (False, 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in zip(NAMES[train], (images, labels), strict=True):
            files[name] = gzip.compress(idx_u8(arr))
            arrays[name] = arr
    return files, arrays


def md5_of(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


class Server:
    """A tiny HTTP server: ``files`` maps a name to bytes; ``mode`` to 'ok', 'truncate', 'stall'
    or 'missing'; ``hits`` counts requests per name."""

    def __init__(self, files: dict[str, bytes], mode: str = "ok"):
        self.files, self.mode, self.hits = dict(files), mode, {}
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = TIMEOUT

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                outer.hits[name] = outer.hits.get(name, 0) + 1
                data = outer.files.get(name)
                if data is None or outer.mode == "missing":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if outer.mode == "truncate":
                    # Announce more than we send, then drop the connection.
                    self.send_header("Content-Length", str(len(data) + 1000))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if outer.mode == "stall":
                    self.wfile.write(data[:10])
                    self.wfile.flush()
                    outer.release.wait(TIMEOUT)
                    return
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(TIMEOUT)


@pytest.fixture
def serve():
    servers = []

    def start(files, mode="ok"):
        servers.append(Server(files, mode))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def dead_url() -> str:
    """A URL on a port nothing listens on (bound then closed, so connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def leftovers(root: Path) -> list[str]:
    return sorted(os.listdir(root)) if root.exists() else []


@pytest.mark.parametrize("train", [True, False])
def test_download_success(tmp_path, serve, capsys, train):
    files, arrays = make_files()
    server = serve(files)
    root = tmp_path / "new" / "dir"  # created on demand
    x, y = load_mnist(root, train=train, download=True, mirrors=[server.url],
                      md5=md5_of(files), timeout=TIMEOUT)
    images, labels = (arrays[n] for n in NAMES[train])
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(np.rint(x * 255).astype(np.uint8), images.reshape(len(y), -1))
    assert leftovers(root) == sorted(NAMES[train])  # only this split, no temporary files
    for name in NAMES[train]:
        assert (root / name).read_bytes() == files[name]
    err = capsys.readouterr().err
    assert NAMES[train][0] in err and "100%" in err  # the progress line


def test_progress_can_be_silenced(tmp_path, serve, capsys):
    files, _ = make_files()
    server = serve(files)
    load_mnist(tmp_path, download=True, mirrors=[server.url], md5=md5_of(files),
               timeout=TIMEOUT, progress=False)
    assert capsys.readouterr().err == ""


def test_corrupted_file_bad_md5(tmp_path, serve):
    files, _ = make_files()
    sums = md5_of(files)
    bad = dict(files)
    flipped = bytearray(files["train-images-idx3-ubyte.gz"])
    flipped[len(flipped) // 2] ^= 0x40
    bad["train-images-idx3-ubyte.gz"] = bytes(flipped)
    server = serve(bad)
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path, download=True, mirrors=[server.url], md5=sums, timeout=TIMEOUT,
                   progress=False)
    message = str(info.value)
    assert server.url + "train-images-idx3-ubyte.gz" in message
    assert "MD5" in message and sums["train-images-idx3-ubyte.gz"] in message
    assert "train-images-idx3-ubyte.gz" not in leftovers(tmp_path)
    assert not [f for f in leftovers(tmp_path) if "part" in f]


def test_connection_dropped_mid_file(tmp_path, serve):
    files, _ = make_files()
    server = serve(files, mode="truncate")
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path, download=True, mirrors=[server.url], md5=md5_of(files),
                   timeout=TIMEOUT, progress=False)
    assert server.url + "train-images-idx3-ubyte.gz" in str(info.value)
    assert "Content-Length" in str(info.value)
    assert leftovers(tmp_path) == []


def test_stalled_server_times_out(tmp_path, serve):
    files, _ = make_files()
    server = serve(files, mode="stall")
    with pytest.raises(DownloadError, match="(?i)timed? ?out"):
        download_file("train-labels-idx1-ubyte.gz", tmp_path, [server.url],
                      md5_of(files)["train-labels-idx1-ubyte.gz"], timeout=0.3, progress=False)
    assert leftovers(tmp_path) == []


def test_first_mirror_fails_second_succeeds(tmp_path, serve):
    files, arrays = make_files()
    broken, good = serve(files, mode="missing"), serve(files)
    refused = dead_url()
    x, y = load_mnist(tmp_path, download=True, mirrors=[refused, broken.url, good.url],
                      md5=md5_of(files), timeout=TIMEOUT, progress=False)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte.gz"])
    assert broken.hits == {name: 1 for name in NAMES[True]}
    assert good.hits == {name: 1 for name in NAMES[True]}
    assert leftovers(tmp_path) == sorted(NAMES[True])


def test_every_mirror_failing_lists_each_url_and_reason(tmp_path, serve):
    files, _ = make_files()
    broken, truncating = serve(files, mode="missing"), serve(files, mode="truncate")
    refused = dead_url()
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path, download=True, mirrors=[refused, broken.url, truncating.url],
                   md5=md5_of(files), timeout=TIMEOUT, progress=False)
    lines = str(info.value).splitlines()
    name = "train-images-idx3-ubyte.gz"
    assert len(lines) == 4 and name in lines[0]
    assert lines[1].strip().startswith(refused + name) and "refused" in lines[1].lower()
    assert lines[2].strip().startswith(broken.url + name) and "404" in lines[2]
    assert lines[3].strip().startswith(truncating.url + name) and "Content-Length" in lines[3]
    assert isinstance(info.value, RuntimeError)
    assert info.value.attempts[1][0] == broken.url + name
    assert leftovers(tmp_path) == []


def test_existing_good_files_are_not_downloaded_again(tmp_path, serve):
    files, arrays = make_files()
    for name in NAMES[False]:
        (tmp_path / name).write_bytes(files[name])
    server = serve(files)
    x, y = load_mnist(tmp_path, train=False, download=True, mirrors=[server.url],
                      md5=md5_of(files), timeout=TIMEOUT, progress=False)
    np.testing.assert_array_equal(y, arrays["t10k-labels-idx1-ubyte.gz"])
    assert server.hits == {}


def test_existing_corrupted_file_is_detected_and_kept(tmp_path, serve):
    files, _ = make_files()
    damaged = bytearray(files["train-labels-idx1-ubyte.gz"])
    damaged[-5] ^= 1
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(files["train-images-idx3-ubyte.gz"])
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(bytes(damaged))
    server = serve(files)
    with pytest.raises(ChecksumError, match="train-labels-idx1-ubyte.gz.*MD5"):
        load_mnist(tmp_path, download=True, mirrors=[server.url], md5=md5_of(files),
                   timeout=TIMEOUT, progress=False)
    assert (tmp_path / "train-labels-idx1-ubyte.gz").read_bytes() == bytes(damaged)
    assert server.hits == {}


def test_dataset_keyword_selects_the_checksum_table(tmp_path, serve):
    # Files that match neither published table: the error quotes the selected table's sum.
    files, _ = make_files()
    server = serve(files)
    for dataset in ("mnist", "fashion-mnist"):
        with pytest.raises(DownloadError) as info:
            load_mnist(tmp_path, download=True, dataset=dataset, mirrors=[server.url],
                       timeout=TIMEOUT, progress=False)
        assert MD5[dataset]["train-images-idx3-ubyte.gz"] in str(info.value)
    assert MD5["mnist"] != MD5["fashion-mnist"]
    with pytest.raises(ValueError, match="unknown dataset"):
        load_mnist(tmp_path, download=True, dataset="cifar", mirrors=[server.url])


def test_published_tables_cover_the_four_files():
    for table in MD5.values():
        assert sorted(table) == sorted(NAMES[True] + NAMES[False])
        assert all(len(v) == 32 and int(v, 16) >= 0 for v in table.values())
