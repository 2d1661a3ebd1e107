"""Running an export: the source rows are read `CHUNK` at a time (`.iterator(chunk_size=...)`
over `values()` rows: on PostgreSQL a server-side cursor), turned into JSON Lines by the
format's function, and handed to the default storage as a file-like object that it reads as it
writes, so neither the rows nor the file are ever in memory whole. The SHA-256 and the sizes are
computed from the very bytes handed over; progress is saved after every chunk.

A file is marked completed only after the storage has all of it (its size is checked against the
bytes written); on any error the file is deleted and the export marked failed with the error, so
no half file is ever offered for download."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator

from django.core.files import File
from django.core.files.storage import default_storage

from datasets import selectors, services
from datasets.formats import LINES
from datasets.models import Export
from marketplace.transitions import InvalidTransition

logger = logging.getLogger(__name__)

CHUNK = 1000  # source rows per read and per progress update
READ_BUFFER = 256 * 1024


class ChunkReader(io.RawIOBase):
    """A read-only, unseekable stream over an iterator of byte strings (what Storage.save reads
    with `chunks()`, or an S3 backend with `read()`)."""

    def __init__(self, pieces: Iterator[bytes]):
        super().__init__()
        self.pieces = pieces
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self.pending:
            piece = next(self.pieces, None)
            if piece is None:
                return 0
            self.pending = piece
        size = min(len(target), len(self.pending))
        target[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


class JsonlWriter:
    """Turns source rows into JSON Lines bytes, chunk by chunk, counting and hashing them."""

    def __init__(self, export: Export, rows_total: int):
        self.export = export
        self.lines_of = LINES[export.format]
        self.rows_total = rows_total
        self.sha256 = hashlib.sha256()
        self.rows_done = 0
        self.lines = 0
        self.bytes = 0

    def encode(self, rows: list[dict]) -> bytes:
        out = []
        for row in rows:
            for line in self.lines_of(row):
                out.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
        self.lines += len(out)
        data = "".join(text + "\n" for text in out).encode()
        self.sha256.update(data)
        self.bytes += len(data)
        return data

    def pieces(self, source) -> Iterator[bytes]:
        batch: list[dict] = []
        for row in source.iterator(chunk_size=CHUNK):
            batch.append(row)
            if len(batch) == CHUNK:
                yield from self.flush(batch)
                batch = []
        if batch:
            yield from self.flush(batch)

    def flush(self, batch: list[dict]) -> Iterator[bytes]:
        data = self.encode(batch)
        self.rows_done += len(batch)
        services.export_progress(export=self.export, rows_done=self.rows_done)
        if data:
            yield data


def storage_name(export: Export) -> str:
    return f"exports/{export.organization_id}/{export.pk}.jsonl"


def _discard(name: str | None) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)


def export_write(*, export_id) -> str:
    """Run one export to its end; returns the status it ended in."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None or not services.export_start(export=export):
        return export.status if export is not None else "missing"
    name = storage_name(export)
    saved = None
    try:
        # A previous claim of this task that died mid-write left its half file here.
        _discard(name)
        source = selectors.export_source(export=export)
        writer = JsonlWriter(export, rows_total=source.count())
        services.export_progress(export=export, rows_done=0, rows_total=writer.rows_total)
        stream = io.BufferedReader(ChunkReader(writer.pieces(source)), buffer_size=READ_BUFFER)
        saved = default_storage.save(name, File(stream, name=name))
        stored = default_storage.size(saved)
        if stored != writer.bytes:
            raise OSError(f"the storage holds {stored} bytes of the {writer.bytes} written")
        services.export_complete(
            export=export,
            name=saved,
            sha256=writer.sha256.hexdigest(),
            rows=writer.lines,
            rows_done=writer.rows_done,
            size_bytes=writer.bytes,
        )
    except InvalidTransition:
        # Failed meanwhile (the stale sweep): its file goes.
        _discard(saved or name)
        export.refresh_from_db()
    except Exception as exc:
        logger.exception("export %s failed", export.pk)
        _discard(saved or name)
        services.export_fail(export=export, error=f"{type(exc).__name__}: {exc}")
    except BaseException:
        # The worker is stopping: no half file stays; the export stays running, and the task
        # goes back to the queue (worker lease) or is failed by the stale sweep.
        _discard(saved or name)
        raise
    return export.status
