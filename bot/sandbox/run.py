"""Start all four backend sandboxes together and say how to connect to each."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.netguard import ALLOWLIST_ENV
from bot.sandbox import epixel, ispcrm, omnidesk, questionpro
from bot.sandbox.base import SandboxServer
from bot.sandbox.epixel import EpixelSandbox
from bot.sandbox.ispcrm import IspcrmSandbox
from bot.sandbox.omnidesk import OmnideskSandbox
from bot.sandbox.questionpro import QuestionProSandbox
from bot.sandbox.questionpro_clf import DEMO_WORKSPACE_ID, QuestionProClfSandbox


@dataclass
class Sandboxes:
    questionpro: QuestionProSandbox
    epixel: EpixelSandbox
    omnidesk: OmnideskSandbox
    ispcrm: IspcrmSandbox
    questionpro_clf: QuestionProClfSandbox | None = None  # the Closed Loop host (issue 15)

    @property
    def all(self) -> list[SandboxServer]:
        servers = [self.questionpro, self.epixel, self.omnidesk, self.ispcrm]
        return servers + ([self.questionpro_clf] if self.questionpro_clf else [])

    def _clf_url(self) -> str:
        return f"{self.questionpro_clf.base_url}/" if self.questionpro_clf else "(not running)"

    async def stop(self) -> None:
        for server in self.all:
            await server.stop()

    def _host(self) -> str:
        return urlsplit(self.epixel.base_url).hostname or "127.0.0.1"

    def describe(self) -> str:
        """What to paste into `/ticket connect` for each backend, and the one bot setting."""
        qp, ep, om, isp = self.questionpro, self.epixel, self.omnidesk, self.ispcrm
        return "\n".join(
            [
                "Sandboxes are running on loopback. Start the bot with",
                f"  TICKETBOT_QUESTIONPRO_BASE_URL={qp.base_url}/",
                f"  {ALLOWLIST_ENV}={self._host()}",
                "(the bot connects to no loopback or private address unless it is allowlisted),",
                "so QuestionPro calls come here, then use /ticket connect <backend> with:",
                "",
                f"questionpro  any datacenter, API key {questionpro.DEMO_API_KEY}",
                f"             Closed Loop: workspace id {DEMO_WORKSPACE_ID}, with the bot "
                f"started with TICKETBOT_QUESTIONPRO_CLF_BASE_URL={self._clf_url()}",
                f"epixel       base URL {ep.base_url}",
                f"             API key {epixel.DEMO_API_KEY}",
                f"             access token {epixel.DEMO_ACCESS_TOKEN}",
                f"             or username {epixel.DEMO_USER} / password {epixel.DEMO_PASSWORD}",
                f"omnidesk     base URL {om.base_url}",
                f"             API key {omnidesk.FULL_KEY} (all permissions), {omnidesk.AGENT_KEY} "
                f"(no delete/batch) or {omnidesk.READONLY_KEY}",
                f"ispcrm       base URL {isp.base_url}",
                f"             token {ispcrm.DEMO_TOKEN}",
                f"             or username {ispcrm.DEMO_USER} / password {ispcrm.DEMO_PASSWORD}",
                "",
                "Faults: POST <server>/_sandbox/faults with JSON such as "
                '{"latency": 0.3} or {"status": 503, "status_times": 2};',
                "POST <server>/_sandbox/reset clears them.",
            ]
        )


async def start_sandboxes(host: str = "127.0.0.1", first_port: int = 0) -> Sandboxes:
    """Start all five (QuestionPro has two hosts); ``first_port`` 0 picks free ports, else
    consecutive ones from it."""
    servers = (
        QuestionProSandbox(host),
        EpixelSandbox(host),
        OmnideskSandbox(host),
        IspcrmSandbox(host),
    )
    clf = QuestionProClfSandbox(host)
    for offset, server in enumerate((*servers, clf)):
        await server.start(first_port + offset if first_port else 0)
    return Sandboxes(*servers, questionpro_clf=clf)
