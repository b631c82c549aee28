"""Request guards that apply before any view runs."""

from projects.responses import error_page


class RefuseNulCharactersMiddleware:
    """Answer 400 to a URL whose path or query string holds a NUL character.

    No field accepts one, and PostgreSQL refuses it in any text parameter,
    so the request is refused with a message before a query could fail.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in v for v in values)
            for key, values in request.GET.lists()
        ):
            return error_page(
                request,
                status=400,
                title="Bad request",
                message="The address contains a NUL character (%00), which no "
                "page or filter accepts. Remove it and try again.",
            )
        return self.get_response(request)
