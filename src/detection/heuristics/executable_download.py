"""Executable download: an HTTP response (or a file seen by Zeek's files.log on
any protocol) whose MIME type is an executable program.

Why: a host fetching Windows PE / ELF / Mach-O binaries or installers over the
network is how droppers pull their next stage (ATT&CK T1105, Ingress Tool
Transfer). Installers are also how software updates arrive, so LOW. The
MIME list is in `executable_mimes`; unlike Slips, ``application/octet-stream``
is left out by default (it is every unknown blob). The evidence accuses the
downloading host (its profile); the victim field names the server. One
evidence per (client, server, window), re-reported at 10, 100, … downloads;
a file seen in both http.log and files.log counts once (by connection uid).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, FilesRecord, HttpRecord, ThreatLevel

__all__ = ["ExecutableDownload", "ExecutableDownloadParams"]


class ExecutableDownloadParams(DetectorParams):
    executable_mimes: tuple[str, ...] = (
        "application/x-dosexec",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-elf",
        "application/x-mach-o-executable",
        "application/x-mach-binary",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-sharedlib",
    )


class ExecutableDownload(Detector):
    name = "executable_download"
    consumes = (HttpRecord, FilesRecord)
    Params = ExecutableDownloadParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ExecutableDownloadParams)
        self._mimes = frozenset(m.lower() for m in params.executable_mimes)
        self._seen: dict[tuple[str, str, int], int] = {}
        self._uids: dict[tuple[str, int], None] = {}  # (conn uid, window) already counted

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is HttpRecord:
            mime = next((m for m in record.resp_mime_types if m.lower() in self._mimes), None)
            if mime is None:
                return None
            what = f"{record.method} http://{record.host or record.daddr}{record.uri[:80]}"
            return self._found(
                record.saddr,
                record.daddr,
                uid=record.uid,
                mime=mime,
                what=what,
                rec=record,
                window=window,
            )
        rec: FilesRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if rec.mime_type.lower() not in self._mimes or not rec.rx_hosts or not rec.tx_hosts:
            return None
        uid = rec.conn_uids[0] if rec.conn_uids else rec.fuid
        name = f" {rec.filename[:60]!r}" if rec.filename else ""
        what = f"{rec.source or 'file'}{name}, {rec.seen_bytes} bytes"
        return self._found(
            rec.rx_hosts[0],
            rec.tx_hosts[0],
            uid=uid,
            mime=rec.mime_type,
            what=what,
            rec=rec,
            window=window,
        )

    def _found(
        self,
        client: str,
        server: str,
        *,
        uid: str,
        mime: str,
        what: str,
        rec: HttpRecord | FilesRecord,
        window: int,
    ) -> Sequence[Evidence] | None:
        if not client:
            return None
        if uid and (uid, window) in self._uids:
            return None
        if uid:
            self._uids[(uid, window)] = None
        key = (client, server, window)
        n = self._seen.get(key, 0) + 1
        self._seen[key] = n
        if not report_due(n, 1, (10, 100, 1000)):
            return None
        return (
            make_evidence(
                self,
                attacker=client,
                victim=server,
                level=ThreatLevel.LOW,
                confidence=0.8,
                ts=rec.ts,
                window=window,
                description=(
                    f"Executable download by {client} from {server}: {mime} ({what}); "
                    f"{n} executable{'s' if n > 1 else ''} from it in this window"
                ),
                technique="T1105",  # Ingress Tool Transfer
                uids=(uid,),
                dport=getattr(rec, "dport", None),
                proto="tcp" if type(rec) is HttpRecord else None,
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._seen if k[2] <= window]:
            del self._seen[key]
        for ukey in [k for k in self._uids if k[1] <= window]:
            del self._uids[ukey]
        return None
