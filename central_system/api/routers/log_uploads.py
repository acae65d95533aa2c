"""Diagnostics and logs: ask a station for its diagnostics (1.6 GetDiagnostics TC_045) or its
diagnostics / security log (GetLog: 1.6 security extension TC_079, 2.x N01 TC_N_25/34/35/36),
follow the request, download the file; and the upload endpoint stations send the file to.

Stations upload to `/api/v1/uploads/{token}` (the token in the URL they were given is the only
credential: unguessable, one per request): `PUT` with the raw file, or `POST` as
multipart/form-data (the first part with a file name) or raw. A station that appends the file
name to the location (`.../{token}/{file_name}`) is served the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import IO, Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import FileResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException

from central_system.api import convert
from central_system.api import maintenance_schemas as m
from central_system.api import schemas as s
from central_system.api.control_common import audited
from central_system.api.deps import Ctx, Operator, Pages
from central_system.api.problems import error_responses
from central_system.domain.log_uploads import LogRequest, LogType, safe_file_name
from central_system.services.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/v1", tags=["diagnostics"])

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
RequestPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
TokenPath = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
FileNamePath = Annotated[str, Path(min_length=1, max_length=255)]
UPLOADS = "/uploads"


def upload_path(token: str) -> str:
    """The API path a station uploads the file of a request to."""
    return f"/api/v1{UPLOADS}/{token}"


def request_out(request: LogRequest) -> m.LogRequestOut:
    download = (
        f"/api/v1/stations/{request.station_id}/logs/{request.id}/file"
        if request.stored_path
        else None
    )
    return m.LogRequestOut(
        id=request.id,
        station_id=request.station_id,
        log_type=request.log_type.value,
        status=request.status,
        requested_at=request.requested_at,
        file_name=request.file_name,
        size_bytes=request.size_bytes,
        uploaded_at=request.uploaded_at,
        download=download,
    )


@router.post(
    "/stations/{station_id}/logs",
    response_model=m.LogRequestCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Ask a station to upload its diagnostics or a log",
    responses=error_responses(401, 403, 404, 409, 422, 502, 504),
)
async def request_log(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: m.LogRequestIn
) -> m.LogRequestCreated:
    """The station is given an upload URL under EVCHARGE_PUBLIC_API_URL; the answer is the
    station's (1.6 GetDiagnostics: the file name, none when there is nothing to upload;
    GetLog: Accepted, Rejected or AcceptedCanceled)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.log_uploads.request(
        station_id,
        LogType(body.log_type),
        oldest=body.oldest,
        latest=body.latest,
        retries=body.retries,
        retry_interval=body.retry_interval_s,
    )
    created, outcome = await audited(
        request, ctx, caller, station_id, "get-log", call, {"log_type": body.log_type}
    )
    return m.LogRequestCreated(
        request=request_out(created),
        station_answer=s.CommandOut.of(outcome),
    )


@router.get(
    "/stations/{station_id}/logs",
    response_model=s.PageOut[m.LogRequestOut],
    responses=error_responses(401, 403, 404, 422),
)
async def list_logs(
    ctx: Ctx, caller: Operator, station_id: StationPath, pages: Pages
) -> s.PageOut[m.LogRequestOut]:
    await ctx.catalog.manageable(caller, station_id)
    found = await ctx.core.log_uploads.list(station_id, limit=pages.limit, offset=pages.offset)
    return convert.page([request_out(r) for r in found.items], found, pages.limit, pages.offset)


@router.get(
    "/stations/{station_id}/logs/{request_id}",
    response_model=m.LogRequestOut,
    responses=error_responses(401, 403, 404, 422),
)
async def get_log(
    ctx: Ctx, caller: Operator, station_id: StationPath, request_id: RequestPath
) -> m.LogRequestOut:
    await ctx.catalog.manageable(caller, station_id)
    return request_out(await ctx.core.log_uploads.get(station_id, request_id))


@router.get(
    "/stations/{station_id}/logs/{request_id}/file",
    response_class=FileResponse,
    responses={
        **error_responses(401, 403, 404, 422),
        200: {"content": {"application/octet-stream": {}}},
    },
)
async def download_log(
    ctx: Ctx, caller: Operator, station_id: StationPath, request_id: RequestPath
) -> FileResponse:
    """The file the station uploaded."""
    await ctx.catalog.manageable(caller, station_id)
    found = await ctx.core.log_uploads.get(station_id, request_id)
    if not found.stored_path:
        raise NotFound("the station has not uploaded the file (yet)")
    path = await asyncio.to_thread(_stored_file, ctx.settings.upload_dir, found.stored_path)
    if path is None:
        raise NotFound("the uploaded file is gone")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=found.file_name or path.name,
    )


def _stored_file(upload_dir: FilePath, stored_path: str) -> FilePath | None:
    """The stored file if it still exists inside the upload directory."""
    root = FilePath(upload_dir).resolve()
    path = FilePath(stored_path).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


# --- the station's upload --------------------------------------------------------------------


_MULTIPART_OVERHEAD = 64 * 1024  # part headers and boundaries around the file


class _Sink:
    """Writes an upload to a file, at most `limit` bytes."""

    def __init__(self, file: IO[bytes], limit: int) -> None:
        self.file = file
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise HTTPException(413, f"the file is larger than {self.limit} bytes")
        self.file.write(data)


class _FilePart:
    """Streams the first multipart part that carries a file name into a sink."""

    def __init__(self, sink: _Sink) -> None:
        self._sink = sink
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._writing = False
        self.found = False
        self.file_name: str | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _add(self, name: str, chunk: bytes) -> None:
        setattr(self, name, getattr(self, name) + chunk)

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"filename")
        if name is not None and not self.found:
            self._writing = True
            self.found = True
            self.file_name = name.decode("utf-8", errors="replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._writing:
            self._sink.write(data[start:end])

    def _end(self) -> None:
        self._writing = False


async def _receive(request: Request, file: IO[bytes], limit: int) -> tuple[int, str | None]:
    """Stream the body into `file`; returns (size, the multipart file name if any)."""
    sink = _Sink(file, limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise HTTPException(413, f"the file is larger than {limit} bytes")
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.lower().startswith("multipart/form-data"):
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidRequest("multipart/form-data without a boundary")
        part = _FilePart(sink)
        parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            await asyncio.to_thread(parser.write, chunk)
        parser.finalize()
        if not part.found:
            raise InvalidRequest("the multipart body has no file part")
        return sink.size, part.file_name
    async for chunk in request.stream():
        await asyncio.to_thread(sink.write, chunk)
    return sink.size, None


async def _upload(request: Request, ctx: Ctx, token: str, name_in_path: str | None) -> m.UploadOut:
    service = ctx.core.log_uploads
    target = await service.upload_target(token)
    directory = FilePath(ctx.settings.upload_dir) / safe_file_name(target.station_id, "station")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    partial = directory / f".{target.id}-{token[:8]}.part"
    file: Any = await asyncio.to_thread(partial.open, "wb")
    try:
        try:
            size, multipart_name = await _receive(request, file, ctx.settings.upload_max_bytes)
        finally:
            await asyncio.to_thread(file.close)
        name = safe_file_name(
            multipart_name or name_in_path or target.file_name,
            f"{target.log_type.value}-{target.id}.log",
        )
        final = directory / f"{target.id}-{name}"
        await asyncio.to_thread(os.replace, partial, final)
    except BaseException:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(partial.unlink)
        raise
    stored = await service.uploaded(
        target.id, file_name=name, stored_path=str(final.resolve()), size_bytes=size
    )
    return m.UploadOut(request_id=stored.id, file_name=name, size_bytes=size)


_UPLOAD: dict[str, Any] = {
    "response_model": m.UploadOut,
    "status_code": status.HTTP_201_CREATED,
    "responses": error_responses(404, 409, 413, 422),
    "openapi_extra": {
        "requestBody": {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
}


@router.put(UPLOADS + "/{token}", summary="A station uploads a requested file (raw)", **_UPLOAD)
async def put_upload(request: Request, ctx: Ctx, token: TokenPath) -> m.UploadOut:
    return await _upload(request, ctx, token, None)


@router.post(UPLOADS + "/{token}", summary="A station uploads a requested file", **_UPLOAD)
async def post_upload(request: Request, ctx: Ctx, token: TokenPath) -> m.UploadOut:
    """multipart/form-data (the first part with a file name), or the raw file."""
    return await _upload(request, ctx, token, None)


@router.put(UPLOADS + "/{token}/{file_name}", include_in_schema=False, **_UPLOAD)
async def put_named_upload(
    request: Request, ctx: Ctx, token: TokenPath, file_name: FileNamePath
) -> m.UploadOut:
    return await _upload(request, ctx, token, file_name)


@router.post(UPLOADS + "/{token}/{file_name}", include_in_schema=False, **_UPLOAD)
async def post_named_upload(
    request: Request, ctx: Ctx, token: TokenPath, file_name: FileNamePath
) -> m.UploadOut:
    return await _upload(request, ctx, token, file_name)
