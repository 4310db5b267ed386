"""Delivering the sandbox ECC's packets as SAP's two XML ports do.

XML-HTTP port: ECC POSTs each packet to the URL of an SM59 destination of type G, with the
destination's Basic-auth logon, body = the IDoc-XML (contract 2.3). XML file port: ECC
writes one file per packet into a directory the receiver polls; the file appears whole
(written under a temporary name, then renamed), so the receiver never reads half a file.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import requests

CONTENT_TYPE = "application/xml; charset=utf-8"
_DOCNUM = re.compile(rb"<DOCNUM>\s*([0-9A-Za-z]+)\s*</DOCNUM>")


def post_packets(url: str, packets: Iterable[tuple[str, bytes]], *, user: str, password: str,
                 timeout: float = 30) -> list[tuple[str, int, str]]:
    """POST every packet in order; (label, HTTP status, answer text) for each.

    A packet that never got an answer (refused connection, timeout) is reported with status
    0 and the error's kind, and the next packet is still sent, as ECC leaves a failed IDoc in
    status 02 and carries on with the others.
    """
    results: list[tuple[str, int, str]] = []
    with requests.Session() as session:
        session.auth = (user, password)
        session.headers["Content-Type"] = CONTENT_TYPE
        for label, body in packets:
            try:
                answer = session.post(url, data=body, timeout=timeout)
            except requests.RequestException as error:
                results.append((label, 0, f"no answer ({type(error).__name__})"))
                continue
            results.append((label, answer.status_code, answer.text))
    return results


def packet_file_name(body: bytes) -> str:
    """`<DOCNUM>.xml` of the packet's first IDoc, as the demo XML file port names its files."""
    found = _DOCNUM.search(body)
    if found is None:
        raise ValueError("The packet holds no DOCNUM, so it cannot be named.")
    return f"{found.group(1).decode('ascii')}.xml"


def write_files(folder: str | os.PathLike[str], packets: Iterable[tuple[str, bytes]]) -> list[Path]:
    """Write each packet to `folder` as `<DOCNUM>.xml`, atomically; the paths written, in order.

    Each file is written and flushed to disk under a hidden `.tmp` name in the same folder,
    then renamed, so a reader polling for `*.xml` sees either nothing or the whole packet.
    A file of the same name (the same IDoc sent again) is replaced, as a resend would.
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for _label, body in packets:
        final = target / packet_file_name(body)
        handle, temporary = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".tmp", dir=target)
        try:
            with os.fdopen(handle, "wb") as stream:
                os.fchmod(stream.fileno(), 0o644)  # mkstemp's 0600 would hide it from another reader
                stream.write(body)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(final)
    return written
