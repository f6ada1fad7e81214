"""Files people attach in Slack modals, fetched with the bot token to forward to a backend."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.blocks.limits import escape
from bot.config import Settings
from bot.errors import UserInputError
from bot.models import Upload
from bot.oauth import current_bot_token


class FileTooLargeError(UserInputError):
    """A file over the backend's limit; refused before anything is downloaded or sent."""


class SlackFiles:
    """Downloads ``url_private_download`` of a file_input's files, and only from Slack."""

    def __init__(self, settings: Settings) -> None:
        self._token = settings.slack_bot_token
        api_host = urlsplit(settings.slack_api_url).hostname or "slack.com"
        # The bot token may only ever go to Slack's own hosts (or the configured stand-in).
        self._hosts = {"files.slack.com", "slack.com", api_host}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0), follow_redirects=False
        )

    @staticmethod
    def check_size(file: dict[str, Any], max_bytes: int) -> None:
        """Refuse a file over ``max_bytes`` by the size Slack reports, before downloading it."""
        size = int(file.get("size") or 0)
        if size > max_bytes:
            name = escape(str(file.get("name") or "The file"))
            raise FileTooLargeError(
                f"{name} is {size / 1024 / 1024:.1f} MiB; the limit is "
                f"{max_bytes / 1024 / 1024:g} MiB. Attach a smaller file."
            )

    async def download(self, file: dict[str, Any], max_bytes: int) -> Upload:
        """The file's bytes, refusing files over ``max_bytes`` and URLs that are not Slack's."""
        self.check_size(file, max_bytes)
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        # Installed through OAuth, the token is that of the request's workspace (bot.oauth).
        token = current_bot_token() or (self._token and self._token.get_secret_value())
        if urlsplit(url).hostname not in self._hosts or not token:
            raise UserInputError("That file cannot be fetched from Slack; attach it again.")
        headers = {"Authorization": f"Bearer {token}"}
        async with self._http.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise UserInputError(
                    f"Slack did not hand over {escape(str(file.get('name') or 'the file'))} "
                    f"(HTTP {response.status_code}); attach it again."
                )
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > max_bytes:  # the reported size was wrong: stop reading
                    self.check_size({**file, "size": len(content)}, max_bytes)
        return Upload(
            filename=str(file.get("name") or "attachment"),
            content=bytes(content),
            content_type=str(file.get("mimetype") or "application/octet-stream"),
        )

    async def aclose(self) -> None:
        await self._http.aclose()
