"""Where a station's diagnostics and log files go (1.6 GetDiagnostics, 2.0.1 GetLog N01):
the central system names a location; the station uploads the file there.

http(s): an HTTP PUT of the file to `<location>/<file name>` (the central system's upload
endpoint takes PUT and POST); ftp: STOR into the location's directory; file: a local directory
(tests and development). Blocking I/O: call it in a worker thread.
"""

from __future__ import annotations

import ftplib
import urllib.request
from io import BytesIO
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

UPLOAD_TIMEOUT_S = 60.0


class UnsupportedLocation(OSError):
    """A location scheme the station cannot upload to."""


def upload(location: str, name: str, content: bytes, *, timeout: float = UPLOAD_TIMEOUT_S) -> None:
    """Upload `content` as `name` to `location`; raises OSError when it does not arrive."""
    parsed = urlsplit(location)
    if parsed.scheme in ("http", "https"):
        url = location.rstrip("/") + "/" + quote(name)
        request = urllib.request.Request(
            url,
            data=content,
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if not 200 <= response.status < 300:
                raise OSError(f"upload to {url} answered HTTP {response.status}")
        return
    if parsed.scheme == "ftp":
        with ftplib.FTP(timeout=timeout) as ftp:
            ftp.connect(parsed.hostname or "", parsed.port or 21)
            ftp.login(unquote(parsed.username or "anonymous"), unquote(parsed.password or ""))
            if parsed.path.strip("/"):
                ftp.cwd(unquote(parsed.path))
            ftp.storbinary(f"STOR {name}", BytesIO(content))
        return
    if parsed.scheme == "file":
        target = Path(unquote(parsed.path)) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return
    raise UnsupportedLocation(f"cannot upload to a {parsed.scheme or 'relative'} location")
