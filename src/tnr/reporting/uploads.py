"""Uploads in the reporter zone are held in memory only, never spooled to a temporary file.

Django writes uploads above FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file on disk before
the view runs. In the reporter zone that would put a reporter's photo or document on disk in
clear, if only for a moment (and for longer if the process is killed), so the zone installs
this handler instead: everything stays in memory up to the zone's own limit (the most files a
form accepts, each at its largest), and a request beyond it keeps no file at all and is
flagged, so the view can say the files were too large rather than silently losing them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler

TOO_LARGE_ATTR = "tnr_uploads_too_large"
MARGIN = 1024 * 1024  # the form's text fields travel in the same request


def zone_upload_limit() -> int:
    return int(settings.TNR_REPORT_MAX_FILES) * int(settings.TNR_REPORT_MAX_FILE_BYTES) + MARGIN


class InMemoryOnlyUploadHandler(MemoryFileUploadHandler):
    def handle_raw_input(self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None) -> None:
        self.activated = content_length <= zone_upload_limit()
        if not self.activated and self.request is not None:
            # Files in this request will be dropped (no other handler follows); say so.
            setattr(self.request, TOO_LARGE_ATTR, True)
