"""A fake of Binance's public data archive (data.binance.vision) serving files a test writes.

Files live under a directory (``root``) at the archive's paths; the helpers write them in the
archive's exact format: ``<name>.zip`` holding one ``<name>.csv``, and ``<name>.zip.CHECKSUM``
holding ``<sha256 hex>  <name>.zip``. The server honours ``Range: bytes=N-`` (206 with
``Content-Range``), answers 404 for absent files like the real archive, and can inject faults:
queued replies (:meth:`FakeServer.inject`) and a body cut short (:meth:`FakeBinanceArchive.truncate_next`).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

from fakes._server import FakeServer, Recorded, Reply

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
_NOT_FOUND = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>'
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def kline_rows(start_ms: int, interval_ms: int, n: int, *, base: float = 100.0, unit: str = "ms") -> list[list[object]]:
    """``n`` kline rows in the archive's 12-column layout; ``unit="us"`` writes microsecond times."""
    scale = 1000 if unit == "us" else 1
    rows: list[list[object]] = []
    for i in range(n):
        t = start_ms + i * interval_ms
        o = base + i
        rows.append(
            [
                t * scale,
                f"{o:.2f}",
                f"{o + 2:.2f}",
                f"{o - 1:.2f}",
                f"{o + 1:.2f}",
                f"{10 + i:.3f}",
                (t + interval_ms - 1) * scale,
                f"{(10 + i) * o:.5f}",
                100 + i,
                f"{5 + i:.3f}",
                f"{(5 + i) * o:.5f}",
                0,
            ]
        )
    return rows


def funding_rows(start_ms: int, n: int, *, hours: int = 8, rate: float = 0.0001) -> list[list[object]]:
    """``n`` funding rows (calc_time, funding_interval_hours, last_funding_rate)."""
    return [[start_ms + i * hours * 3_600_000, hours, f"{rate * (1 + i % 3):.8f}"] for i in range(n)]


def to_csv(rows: Sequence[Sequence[object]], header: str | None) -> str:
    """CSV text with an optional header line, ``\\n`` line ends like the archive."""
    lines = [header] if header else []
    lines += [",".join(str(v) for v in r) for r in rows]
    return "\n".join(lines) + "\n"


def write_zip(root: Path, rel: str, csv_text: str, *, checksum: str | None = None) -> Path:
    """Write ``root/rel`` (a zip with one CSV of the same base name) and its ``.CHECKSUM`` sibling.

    ``checksum`` overrides the digest written (to simulate a corrupt file).
    """
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name[: -len(".zip")] + ".csv", csv_text)
    data = buf.getvalue()
    path.write_bytes(data)
    digest = checksum or hashlib.sha256(data).hexdigest()
    (path.parent / (path.name + ".CHECKSUM")).write_text(f"{digest}  {path.name}\n")
    return path


class FakeBinanceArchive(FakeServer):
    """Serve ``root`` like data.binance.vision (static files, Range requests, 404s)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self._truncate: dict[str, int] = {}

    # -- writing files ------------------------------------------------------------------------

    def put_klines(
        self,
        symbol: str,
        interval: str,
        period: str,
        rows: Sequence[Sequence[object]],
        *,
        kind: str = "klines",
        header: bool = True,
        checksum: str | None = None,
    ) -> Path:
        """Write a monthly (``YYYY-MM``) or daily (``YYYY-MM-DD``) kline file of ``kind``
        (``klines``, ``markPriceKlines`` or ``indexPriceKlines``)."""
        granularity = "monthly" if len(period) == 7 else "daily"
        rel = f"data/futures/um/{granularity}/{kind}/{symbol}/{interval}/{symbol}-{interval}-{period}.zip"
        return write_zip(self.root, rel, to_csv(rows, KLINE_HEADER if header else None), checksum=checksum)

    def put_funding(self, symbol: str, month: str, rows: Sequence[Sequence[object]]) -> Path:
        """Write a monthly funding-rate file (always with a header, like the archive)."""
        rel = f"data/futures/um/monthly/fundingRate/{symbol}/{symbol}-fundingRate-{month}.zip"
        return write_zip(self.root, rel, to_csv(rows, FUNDING_HEADER))

    def truncate_next(self, path: str, nbytes: int) -> None:
        """Send only ``nbytes`` of the body of the next GET of ``path`` while announcing its full length."""
        self._truncate[path] = nbytes

    # -- serving ------------------------------------------------------------------------------

    def fallback(self, req: Recorded) -> Reply:
        """Serve a file under ``root``, honouring ``Range: bytes=N-[M]``."""
        file = (self.root / req.path.lstrip("/")).resolve()
        if self.root.resolve() not in file.parents or not file.is_file():
            return Reply(404, _NOT_FOUND, {"Content-Type": "application/xml"})
        data = file.read_bytes()
        status, headers, start = 200, {"Accept-Ranges": "bytes"}, 0
        rng = req.header("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if m is None or int(m.group(1)) >= len(data):
                return Reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            start = int(m.group(1))
            stop = int(m.group(2)) + 1 if m.group(2) else len(data)
            data = data[start:stop]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{file.stat().st_size}"
        cut = self._truncate.pop(req.path, None)
        if cut is not None and cut < len(data):
            return Reply(status, data[:cut], headers, declared_length=len(data))
        return Reply(status, data, headers)
