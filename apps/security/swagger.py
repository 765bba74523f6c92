"""Swagger UI under a strict Content-Security-Policy: no inline script or style.

drf-spectacular's default view inlines its start-up script and a `<style>` block; the
split view serves the script from its own URL (`?script`), and our template swaps the
style block for a stylesheet from our static files. So `script-src 'self'` and
`style-src 'self'` are enough for /api/docs/.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView

__all__ = ["SwaggerUIView"]


class SwaggerUIView(SpectacularSwaggerSplitView):
    template_name = "security/swagger_ui.html"
