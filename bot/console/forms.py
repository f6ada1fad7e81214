"""A modal asked as a terminal form: each input in turn, with its label, hint, options and
current value; inline errors shown and the same fields asked again; then submitted to the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.console import render
from bot.console.screen import Modal

if TYPE_CHECKING:
    from bot.console.session import Console

CANCEL = "/cancel"


class Cancelled(Exception):
    """The person closed the form (``/cancel``, or the input ended)."""


class FormFiller:
    """Fills one modal as the person answers, then submits it."""

    def __init__(self, console: Console, view: dict[str, Any]) -> None:
        self.console, self.view = console, view
        self.style = console.screen.style

    def _write(self, line: str) -> None:
        self.console.screen.write(line)

    async def _ask(self, prompt: str) -> str:
        line = await self.console.read(prompt)
        if line is None or line.strip() == CANCEL:
            raise Cancelled
        return line.strip()

    async def run(self) -> str:
        """ "shown" for a modal with nothing to fill, "closed" if cancelled, else "submitted"."""
        inputs = [b for b in self.view.get("blocks", []) if b.get("type") == "input"]
        pickers = [
            (b, e)
            for b in self.view.get("blocks", [])
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if "select" in str(e.get("type"))
        ]
        self._header()
        if not inputs and not pickers:
            return "shown"
        try:
            for block, element in pickers:
                if await self._picker(block, element):
                    return "submitted"
            values: dict[str, Any] = {}
            for block in inputs:
                values[block["block_id"]] = await self._input(block)
            await self._submit(inputs, values)
        except Cancelled:
            self._write(self.style.dim("(form closed; nothing was sent)"))
            return "closed"
        return "submitted"

    def _header(self) -> None:
        title = render.plain((self.view.get("title") or {}).get("text", "Form"))
        self._write(self.style.wrap("bold", f"┌ {title}"))
        # Inputs and pickers are asked one by one below; the rest is read like a message.
        notes = [
            b for b in self.view.get("blocks", []) if b.get("type") not in {"input", "actions"}
        ]
        drawn = render.message(notes, "", self.style, self.console.screen.names)
        for line in drawn.lines:
            if line.strip():
                self._write("│ " + line)

    async def _picker(self, block: dict[str, Any], element: dict[str, Any]) -> bool:
        """A select in an actions block: changing it redraws the modal (True when changed)."""
        options = element.get("options") or []
        current = (element.get("initial_option") or {}).get("value")
        label = render.plain((element.get("placeholder") or {}).get("text", "Choose"))
        picked = await self._pick_option(label, options, current, optional=True)
        if picked is None or picked == current:
            return False
        await self.console.pick_in_view(self.view, element.get("action_id", ""), picked)
        return True

    async def _input(self, block: dict[str, Any], error: str | None = None) -> Any:
        element = block.get("element", {})
        kind = element.get("type", "")
        label = render.plain(block.get("label", {}).get("text", block["block_id"]))
        if block.get("optional"):
            label += self.style.dim(" (optional)")
        self._write("│ " + self.style.wrap("bold", label))
        if block.get("hint"):
            self._write("│   " + self.style.dim(render.plain(block["hint"].get("text", ""))))
        if error:
            self._write("│   ⚠️ " + error)
        if kind in {"static_select", "radio_buttons"}:
            current = (element.get("initial_option") or {}).get("value")
            return await self._pick_option("", element.get("options") or [], current)
        if kind == "external_select":
            return await self._search(element)
        if kind in {"multi_static_select", "checkboxes"}:
            return await self._pick_many(element.get("options") or [], element)
        if kind == "file_input":
            return await self._file()
        if kind == "datepicker":
            current = element.get("initial_date")
            answer = await self._ask(f"│   date YYYY-MM-DD [{current or ''}]: ")
            return answer or current
        current = element.get("initial_value")
        shown = f" [{current}]" if current else ""
        answer = await self._ask(f"│   >{shown} ")
        return answer or current

    async def _pick_option(
        self, label: str, options: list[dict], current: str | None, *, optional: bool = False
    ) -> str | None:
        for index, option in enumerate(options, 1):
            mark = " ←" if option.get("value") == current else ""
            self._write(f"│   {index}. {render.plain(option['text']['text'])}{mark}")
        prompt = f"│   {label + ': ' if label else ''}number [keep]: "
        while True:
            answer = await self._ask(prompt)
            if not answer:
                return current
            if answer.isascii() and answer.isdigit() and 0 < int(answer) <= len(options):
                return str(options[int(answer) - 1]["value"])
            self._write(f"│   Type a number from 1 to {len(options)}, or Enter to keep.")

    async def _pick_many(self, options: list[dict], element: dict[str, Any]) -> list[str]:
        initial = [o["value"] for o in element.get("initial_options") or []]
        for index, option in enumerate(options, 1):
            mark = " ✓" if option.get("value") in initial else ""
            self._write(f"│   {index}. {render.plain(option['text']['text'])}{mark}")
        answer = await self._ask("│   numbers, comma-separated [keep]: ")
        if not answer:
            return initial
        picked = [p.strip() for p in answer.split(",") if p.strip().isdigit()]
        return [str(options[int(p) - 1]["value"]) for p in picked if 0 < int(p) <= len(options)]

    async def _search(self, element: dict[str, Any]) -> str | None:
        current = (element.get("initial_option") or {}).get("value")
        typed = await self._ask("│   type to search (Enter lists all): ")
        options = await self.console.options(self.view, element.get("action_id", ""), typed)
        if not options:
            self._write("│   Nothing matches.")
            return current
        return await self._pick_option("", options, current)

    async def _file(self) -> list[dict[str, Any]]:
        while True:
            path = await self._ask("│   path of a file to attach [none]: ")
            if not path:
                return []
            try:
                return self.console.attach(path)
            except OSError as exc:
                self._write(f"│   Cannot read {path}: {exc.strerror}. Another path, or Enter.")

    async def _submit(self, inputs: list[dict[str, Any]], values: dict[str, Any]) -> None:
        screen = self.console.screen
        while True:
            body = await self.console.submit(self.view, values)
            action = body.get("response_action")
            if action != "errors":
                break
            errors: dict[str, str] = body.get("errors") or {}
            self._write("│ " + self.style.wrap("bold", "Please fix:"))
            asked = [b for b in inputs if b["block_id"] in errors]
            if not asked:  # an error for a field we cannot show: say it rather than loop
                for message in errors.values():
                    self._write("│   ⚠️ " + message)
                raise Cancelled
            for block in asked:
                values[block["block_id"]] = await self._input(block, errors[block["block_id"]])
        if action == "update":
            screen.modal = Modal({**body["view"], "id": self.view.get("id")})
        elif action == "push":
            screen.modal = Modal(body["view"])
        else:
            screen.modal = None
        self._write(self.style.dim("└ submitted"))
        await self.console.settle(first_within=0.5)
