"""Refuse over-size uploads before their bytes are stored anywhere."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Room for the multipart envelope and the form's other fields.
ENVELOPE_BYTES = 64 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Stop reading a request body larger than the import limit.

    The rest of the body is read and discarded, never written to memory or
    disk; ``request.upload_too_large`` then holds its size so the view can
    say why nothing arrived.
    """

    too_large = False

    def handle_raw_input(
        self, input_data, META, content_length, boundary, encoding=None
    ):
        if content_length > settings.IMPORT_MAX_BYTES + ENVELOPE_BYTES:
            self.too_large = True
            self.request.upload_too_large = content_length

    def new_file(self, *args, **kwargs):
        # Fields before the file (the CSRF token) are kept; the file and
        # everything after it are read and dropped.
        if self.too_large:
            raise StopUpload(connection_reset=False)
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None
