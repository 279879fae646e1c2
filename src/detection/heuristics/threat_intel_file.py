"""Threat intelligence, files and certificates: a transferred file whose MD5,
SHA1 or SHA256 a feed or local file lists, or a TLS certificate (Zeek hashes
certificates like files) whose SHA1 an SSL blacklist lists (abuse.ch SSLBL).

The sender is accused (the server that delivered the malware, or that presents
the listed certificate), the receiver is the victim. Hashes in the known-false-
positive list (empty files, 1x1 pixels: ``known_fp_md5_hashes.csv``) never
match, whichever feed lists them. Exact match: confidence 1.0, the listing's
level. One evidence per (sender, hash) and window.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._intel import IntelDetector, IntelParams
from detection.intel.model import IocKind
from detection.model import Evidence, FilesRecord

__all__ = ["ThreatIntelFile", "ThreatIntelFileParams"]

_CERT_MIMES = (
    "application/x-x509-user-cert",
    "application/x-x509-ca-cert",
    "application/pkix-cert",
)


class ThreatIntelFileParams(IntelParams):
    pass


class ThreatIntelFile(IntelDetector):
    name = "threat_intel_file"
    consumes = (FilesRecord,)
    Params = ThreatIntelFileParams

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: FilesRecord = record  # type: ignore[assignment]  # routed by `consumes`
        intel = self.intel
        if intel.is_empty or (rec.md5 and intel.is_benign_md5(rec.md5)):
            return None
        for kind, value in ((IocKind.SHA256, rec.sha256), (IocKind.SHA1, rec.sha1),
                            (IocKind.MD5, rec.md5)):  # fmt: skip
            listed = intel.lookup_hash(kind, value) if value else None
            if listed is not None:
                break
        else:
            return None
        sender = rec.tx_hosts[0] if rec.tx_hosts else ""
        receiver = rec.rx_hosts[0] if rec.rx_hosts else None
        if not sender:
            return None
        cert = rec.mime_type in _CERT_MIMES or rec.source == "SSL"
        thing = (
            "TLS certificate" if cert else f"file {rec.filename or rec.mime_type or ''}".rstrip()
        )
        return self.report(
            listed,
            key=(sender, listed.indicator),
            attacker=sender,
            victim=receiver,
            ts=rec.ts,
            uid=rec.conn_uids[0] if rec.conn_uids else rec.fuid,
            window=window,
            description=f"Blacklisted {thing} ({kind.value.upper()} {listed.what}) sent by "
            f"{sender}" + (f" to {receiver}" if receiver else ""),
            technique="T1588.001" if not cert else "T1573",  # Malware / Encrypted Channel
        )
