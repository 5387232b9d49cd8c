"""`/docs` (Swagger UI) and `/redoc` work without internet: every script, style, icon and
the OpenAPI document they reference is served by the service itself.

The pages are fetched over the ASGI transport (no socket, no network), then every URL the
page names is fetched from the same app: an absolute URL to another host, or an asset the
service does not serve, fails the test.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from fleetmem.api.app import create_app
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings

pytestmark = pytest.mark.asyncio

_URL_ATTRS = {"src", "href", "spec-url"}
# Swagger UI is started by an inline script: `url: '/openapi.json'`.
_SCRIPT_URL = re.compile(r"""\burl:\s*['"]([^'"]+)['"]""")


class _Links(HTMLParser):
    """Every URL-valued attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in _URL_ATTRS and value]


def referenced_urls(page: str) -> list[str]:
    """The URLs a docs page makes the browser load."""
    parser = _Links()
    parser.feed(page)
    return parser.urls + _SCRIPT_URL.findall(page)


@pytest.mark.parametrize(("page", "needs"), [
    ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "openapi.json"}),
    ("/redoc", {"redoc.standalone.js", "openapi.json"}),
])
async def test_docs_pages_load_every_asset_from_the_service(
        service: MemoryService, page: str, needs: set[str]) -> None:
    app = create_app(Settings(), service=service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://fleetmem.test") as client:
        response = await client.get(page)
        assert response.status_code == 200, response.text
        html = response.text
        assert "http://" not in html and "https://" not in html, \
            f"{page} names another host: it would be blank offline"
        urls = referenced_urls(html)
        assert needs <= {u.rsplit("/", 1)[-1] for u in urls}, urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), \
                f"{page} loads {url} from outside the service"
            asset = await client.get(url)
            assert asset.status_code == 200, f"{page} references {url}: {asset.status_code}"
            assert len(asset.content) > 100, f"{url} is nearly empty"
            if url.endswith(".js"):
                assert "javascript" in asset.headers["content-type"], url
