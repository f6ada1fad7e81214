"""The QuestionPro sandbox's controls that bench/scale.py relies on: more API keys, the ticket ids
it created, and the detractor calls by key and by segment."""

from __future__ import annotations

import httpx

from bot.sandbox.run import Sandboxes


async def test_added_keys_are_accepted_and_their_calls_are_counted_by_key_and_segment(
    sandboxes: Sandboxes,
) -> None:
    qp = sandboxes.questionpro
    root = qp.base_url.split("/a/api/v2")[0]
    async with httpx.AsyncClient(base_url=root) as http:
        url = "/a/api/v2/cx/tickets/detractors"
        refused = await http.post(url, json={"segmentID": 77}, headers={"api-key": "qp-extra-1"})
        assert refused.status_code == 401
        control = await http.post(
            "/_sandbox/questionpro",
            json={"api_keys": ["qp-extra-1"], "add_detractors": 2, "segment_id": 77},
        )
        created = control.json()["ticket_ids"]
        assert len(created) == 2
        for _ in range(3):
            answer = await http.post(url, json={"segmentID": 77}, headers={"api-key": "qp-extra-1"})
            assert answer.status_code == 200
        listed = [d["ticketID"] for d in answer.json()["response"]]
        assert sorted(listed) == sorted(created)
        calls = (await http.get("/_sandbox/questionpro/calls")).json()
    # The refused call is recorded too: QuestionPro counts what it receives.
    assert len(calls["by_key"]["qp-extra-1"]) == 4
    assert len(calls["by_segment"]["77"]) == 4
    assert calls["by_key"]["qp-extra-1"] == sorted(calls["by_key"]["qp-extra-1"])
