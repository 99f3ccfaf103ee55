"""Moderation of every input and output, through a real gateway with the official SDK."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import orjson
import pytest

from goodstanding.moderation.seams import windows
from goodstanding.runner import serve_in_thread

MODEL = "gpt-4o-mini"
CLEAN = ("The weather today is calm and pleasant, with a gentle breeze over the quiet hills "
         "and a few clouds drifting slowly towards the sea. ")  # fmt: skip
VIOLENT = "I will kill you"


def chat(gw: Any, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return gw.client().chat.completions.create(
        model=MODEL, messages=messages, safety_identifier="u1", **kwargs)


def audit(gw: Any) -> list[dict[str, Any]]:
    time.sleep(0.2)  # allowed calls are written in batches
    return gw.store_call("query_audit")


# --- input ---------------------------------------------------------------------------------


def test_a_flagged_history_message_blocks_and_nothing_is_sent(gw, sim):
    history = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "[[flag:violence]] an old message"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "hello there"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, history)
    error = caught.value
    assert error.code == "content_policy_violation"
    assert "violence" in error.message and "old message" not in error.message
    assert error.response.headers["x-should-retry"] == "false"
    assert sim.calls["/v1/chat/completions"] == 0


def test_every_text_part_is_moderated_in_one_call(gw, sim):
    chat(gw, [
        {"role": "system", "content": "sys prompt"},
        {"role": "developer", "content": "dev prompt"},
        {"role": "user", "content": [{"type": "text", "text": "part one"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "lookup", "arguments": '{"q": "args"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "tool result"},
        {"role": "user", "content": "last"},
    ])  # fmt: skip
    # a message's texts are one text; then the window across them (short: all of it, seams.py)
    texts = ["sys prompt", "dev prompt", "part one", 'lookup\n{"q": "args"}', "tool result", "last"]
    assert sim.moderation_inputs[0] == [*texts, "\n".join(texts)]


def test_the_next_turn_of_a_conversation_moderates_only_its_new_turn(gw, sim):
    turns = [{"role": "system", "content": "Keep answers short."}, {"role": "user", "content": "first"}]
    answer = chat(gw, turns).choices[0].message.content
    seen = windows(["Keep answers short.", "first"])
    # input (with the window across its two texts), then output
    assert sim.moderation_inputs == [["Keep answers short.", "first", *seen], [answer]]
    new_turn = "second [[words:3]]"  # a different answer, so its output is moderated too
    turns += [{"role": "assistant", "content": answer}, {"role": "user", "content": new_turn}]
    chat(gw, turns)
    # only the new text, and the windows not judged before (those touching the new texts)
    new = [w for w in windows(["Keep answers short.", "first", answer, new_turn]) if w not in seen]
    assert sim.moderation_inputs[2] == [new_turn, *new]
    assert sim.calls["/v1/moderations"] == 4


def test_image_parts_are_sent_to_moderation(gw, sim):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    chat(gw, [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}])
    assert sim.moderation_inputs[0] == [{"type": "text", "text": "what is it?"}, image]
    flagged = {"type": "image_url", "image_url": {"url": "https://example.com/flag-violence.png"}}
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, [{"role": "user", "content": [flagged]}])
    assert "violence" in caught.value.message


def test_an_image_by_url_is_moderated_on_every_call(gw, sim):
    """Its server can swap the picture once it passed: an approval of the URL means nothing."""
    image = {"type": "image_url", "image_url": {"url": "https://attacker.example/img.png"}}
    for user in ("u1", "u2"):
        gw.client().chat.completions.create(model=MODEL, safety_identifier=user, messages=[
            {"role": "user", "content": [{"type": "text", "text": "describe this"}, image]}])
    images = [part for call in sim.moderation_inputs if isinstance(call, list)
              for part in call if part == image]  # fmt: skip
    assert len(images) == 2 and sim.calls["/v1/chat/completions"] == 2


def test_an_image_by_data_url_is_moderated_once(gw, sim):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    for _ in range(2):
        chat(gw, [{"role": "user", "content": [image]}])
    assert sim.moderation_inputs.count([image]) == 1


def test_responses_input_items_and_instructions_are_moderated(gw, sim):
    client = gw.client()
    client.responses.create(model=MODEL, instructions="You are helpful.", safety_identifier="u1",
                            input=[{"role": "user", "content": [
                                {"type": "input_text", "text": "hi"},
                                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}])  # fmt: skip
    parts = sim.moderation_inputs[0]
    assert {"type": "text", "text": "You are helpful."} in parts
    assert {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}} in parts


def generated(content: bytes) -> dict[str, Any]:
    """An image generation call handed back as context: its result, a base64 image, is whatever
    the client put there."""
    return {"type": "image_generation_call", "id": "ig_1", "status": "completed",
            "result": base64.b64encode(content).decode()}


def test_a_generated_image_handed_back_is_moderated_as_an_image(gw, sim):
    item = generated(b"\x89PNG\r\n\x1a\n a garden")
    gw.client().responses.create(model=MODEL, safety_identifier="u1", input=[
        {"role": "user", "content": "edit the image"}, item])
    url = "data:image/png;base64," + item["result"]
    assert {"type": "image_url", "image_url": {"url": url}} in sim.moderation_inputs[0]
    assert "unmoderated_input" not in audit(gw)[0]["reasons"]


def test_a_flagged_generated_image_handed_back_is_refused(gw, sim):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().responses.create(model=MODEL, safety_identifier="u1", input=[
            {"role": "user", "content": "edit the image"},
            generated(b"\x89PNG\r\n\x1a\n flag-violence")])
    assert caught.value.code == "content_policy_violation" and "violence" in caught.value.message
    assert sim.calls["/v1/responses"] == 0


def test_image_generation_prompts_are_moderated(gw, sim):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().images.generate(model="gpt-image-1", prompt="[[flag:violence]] a garden",
                                    user="u1")  # fmt: skip
    assert caught.value.code == "content_policy_violation"
    assert sim.calls["/v1/images/generations"] == 0


def test_flag_mode_forwards_and_records(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__INPUT="flag")
    chat(gw, [{"role": "user", "content": "[[flag:harassment]] hi"}])
    assert sim.calls["/v1/chat/completions"] == 1
    (record,) = audit(gw)
    assert record["decision"] == "flagged" and "moderation:harassment" in record["reasons"]


def test_zero_tolerance_blocks_even_in_flag_mode(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__INPUT="flag")
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, [{"role": "user", "content": "[[flag:sexual/minors]] hi"}])
    assert "sexual/minors" in caught.value.message
    assert sim.calls["/v1/chat/completions"] == 0


def test_thresholds_replace_openais_flag_per_category(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__THRESHOLDS='{"violence": 1.0}')
    chat(gw, [{"role": "user", "content": "[[flag:violence]] hi"}])  # 0.99 < 1.0: allowed
    assert sim.calls["/v1/chat/completions"] == 1


# --- failure --------------------------------------------------------------------------------


def test_a_moderation_outage_fails_closed_with_nothing_sent(gw, sim):
    sim.config.moderation = "down"
    with pytest.raises(openai.InternalServerError) as caught:
        chat(gw, [{"role": "user", "content": "hello"}])
    assert caught.value.status_code == 503 and caught.value.code == "moderation_unavailable"
    assert sim.calls["/v1/chat/completions"] == 0
    assert sim.calls["/v1/moderations"] == 2  # retried once


def test_a_slow_moderation_times_out(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__TIMEOUT="0.1")
    sim.config.moderation, sim.config.slow_moderation_s = "slow", 1.0
    started = time.perf_counter()
    with pytest.raises(openai.InternalServerError):
        chat(gw, [{"role": "user", "content": "hello"}])
    assert time.perf_counter() - started < 0.8
    assert sim.calls["/v1/chat/completions"] == 0


def test_fail_open_forwards_and_records(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__ON_ERROR="fail_open",
                       GOODSTANDING_MODERATION__OUTPUT="off")  # fmt: skip
    sim.config.moderation = "down"
    chat(gw, [{"role": "user", "content": "hello"}])
    assert sim.calls["/v1/chat/completions"] == 1
    assert "moderation_unavailable" in audit(gw)[0]["reasons"]


def test_local_detectors_judge_during_an_outage(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__ON_ERROR="local")
    sim.config.moderation = "down"
    chat(gw, [{"role": "user", "content": "hello, how are you?"}])
    with pytest.raises(openai.BadRequestError):
        chat(gw, [{"role": "user", "content": f"{VIOLENT}, you worthless idiot"}])
    assert sim.calls["/v1/chat/completions"] == 1


# --- output ---------------------------------------------------------------------------------


def test_a_flagged_answer_is_withheld(gw, sim):
    answer = chat(gw, [{"role": "user", "content": f"[[say:{VIOLENT}]]"}])
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.content is None


def test_a_flagged_responses_answer_is_incomplete(gw, sim):
    response = gw.client().responses.create(model=MODEL, input=f"[[say:{VIOLENT}]]",
                                            safety_identifier="u1")  # fmt: skip
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "content_filter"
    assert VIOLENT not in response.model_dump_json()


def test_a_flagged_stream_ends_at_the_last_clean_window(gw, sim):
    said = CLEAN * 3 + VIOLENT
    stream = chat(gw, [{"role": "user", "content": f"[[say:{said}]]"}], stream=True)
    chunks = list(stream)  # the SDK's iterator ends without an exception
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and said.startswith(text) and "kill" not in text
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_a_flagged_responses_stream_ends_incomplete(gw, sim):
    said = CLEAN * 3 + VIOLENT
    events = list(gw.client().responses.create(
        model=MODEL, input=f"[[say:{said}]]", stream=True, safety_identifier="u1"))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "kill" not in text
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "content_filter"


def test_a_clean_long_stream_is_delivered_incrementally(gw, sim):
    sim.config.chunk_delay = 0.02
    started = time.perf_counter()
    stream = chat(gw, [{"role": "user", "content": "go [[words:100]]"}], stream=True)
    arrivals = [time.perf_counter() - started
                for c in stream if c.choices and c.choices[0].delta.content]  # fmt: skip
    assert len(arrivals) >= 100
    # the first words arrive while the upstream is still sending the rest (~2 s of it)
    assert arrivals[0] < arrivals[-1] - 1.0
    assert sim.calls["/v1/moderations"] >= 3  # windows, not the whole answer at once


def test_stream_first_releases_before_checking(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__STREAM_MODE="stream_first")
    said = CLEAN * 3 + VIOLENT
    chunks = list(chat(gw, [{"role": "user", "content": f"[[say:{said}]]"}], stream=True))
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_output_flag_mode_delivers_and_records(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__OUTPUT="flag")
    answer = chat(gw, [{"role": "user", "content": f"[[say:{VIOLENT}]]"}])
    assert answer.choices[0].message.content == VIOLENT
    assert "output:violence" in audit(gw)[0]["reasons"]


# --- upstream policy answers and budget ------------------------------------------------------


@pytest.mark.parametrize("fault", ["invalid_prompt", "cyber_policy", "bio_policy"])
def test_upstream_policy_errors_are_offences_and_not_retried(gw, sim, fault):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, [{"role": "user", "content": f"[[fault:{fault}]]"}])
    assert caught.value.code == fault
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert f"upstream:{fault}" in audit(gw)[0]["reasons"]


@pytest.mark.parametrize("fault", ["content_filter", "refusal"])
def test_upstream_content_filter_and_refusals_are_offences(gw, sim, fault):
    chat(gw, [{"role": "user", "content": f"[[fault:{fault}]]"}])
    assert f"upstream:{fault}" in audit(gw)[0]["reasons"]


def test_moderation_headroom_is_a_metric(gw, sim):
    chat(gw, [{"role": "user", "content": "hello"}])
    text = httpx2.get(f"{gw.url}/metrics").text
    assert 'goodstanding_moderation_headroom{upstream="default"}' in text


# --- several choices (n > 1) ----------------------------------------------------------------


@pytest.mark.parametrize("pad", [91, 97, 100])
def test_no_part_of_a_phrase_across_a_windows_edge_reaches_the_client(gw, sim, pad):
    """The first window ends near character 100; at these offsets the old hold-back released
    "… I will kill" or "… I" before the next window, with the rest of the phrase, was refused."""
    said = " ".join(["calm"] * (pad // 5)) + f" {VIOLENT} and everyone here. " + "quiet " * 40
    # 10 ms between tokens: one event per read, as from OpenAI (not all in one burst)
    chunks = list(chat(gw, [{"role": "user", "content": f"[[say:{said}]] [[delay_ms:10]]"}],
                       stream=True))
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    assert set(text.split()) <= {"calm"}
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_a_flagged_second_choice_withholds_the_whole_answer(gw, sim):
    answer = chat(gw, [{"role": "user", "content": f"[[say:{CLEAN}]] [[say:{VIOLENT}]]"}], n=2)
    assert [c.finish_reason for c in answer.choices] == ["content_filter"] * 2
    assert VIOLENT not in answer.model_dump_json()


def test_a_flagged_second_choice_in_an_interleaved_stream_is_cut(gw, sim):
    """OpenAI streams several choices with their pieces taking turns: read as one text, the
    second choice's phrase would be scattered among the first's words."""
    said = CLEAN * 3
    chunks = list(chat(gw, [{"role": "user", "content": f"[[say:{said}]] [[say:{VIOLENT}]]"}],
                       n=2, stream=True))
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices
                   if c.index == 1)
    assert "kill" not in text
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert [r["decision"] for r in audit(gw)][-1] == "output_withheld"


def test_a_clean_stream_of_several_choices_arrives_whole(gw, sim):
    first, second = CLEAN * 2, "A second, different and equally calm answer about the hills."
    chunks = list(chat(gw, [{"role": "user", "content": f"[[say:{first}]] [[say:{second}]]"}],
                       n=2, stream=True))
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
    assert texts == {0: first, 1: second}
    assert sorted(c.finish_reason for chunk in chunks for c in chunk.choices
                  if c.finish_reason) == ["stop", "stop"]


# --- spoken answers (modalities: audio) -----------------------------------------------------

SPOKEN = {"model": "gpt-4o-audio-preview", "modalities": ["text", "audio"],
          "audio": {"voice": "alloy", "format": "wav"}}


def spoken(gw: Any, said: str, **kwargs: Any) -> Any:
    return gw.client().chat.completions.create(
        messages=[{"role": "user", "content": f"[[say:{said}]]"}], safety_identifier="u1",
        **SPOKEN, **kwargs)


def test_a_spoken_answer_is_moderated_by_its_transcript(gw, sim):
    """An audio answer has no ``content``: what it says is in its transcript."""
    answer = spoken(gw, VIOLENT)
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.audio is None and VIOLENT not in answer.model_dump_json()
    clean = spoken(gw, CLEAN)
    assert clean.choices[0].message.audio.transcript == CLEAN


def test_a_spoken_stream_is_cut_at_its_flagged_transcript(gw, sim):
    said = CLEAN * 3 + VIOLENT
    chunks = list(spoken(gw, said, stream=True))
    transcript = "".join((c.delta.to_dict().get("audio") or {}).get("transcript", "")
                         for chunk in chunks for c in chunk.choices)
    assert transcript and said.startswith(transcript) and "kill" not in transcript
    assert chunks[-1].choices[0].finish_reason == "content_filter"


# --- Responses: what the model writes besides its message -----------------------------------


def test_a_flagged_reasoning_summary_is_withheld(gw, sim):
    """A reasoning summary is shown to people as the model's own words."""
    response = gw.client().responses.create(
        model="o4-mini", input=f"[[summary:{VIOLENT}]] [[say:{CLEAN}]]",
        reasoning={"summary": "auto"}, safety_identifier="u1")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "content_filter"
    assert VIOLENT not in response.model_dump_json()


def test_a_flagged_reasoning_summary_ends_the_stream(gw, sim):
    events = list(gw.client().responses.create(
        model="o4-mini", input=f"[[summary:{CLEAN * 3}{VIOLENT}]] [[say:{CLEAN}]]",
        reasoning={"summary": "auto"}, stream=True, safety_identifier="u1"))
    summary = "".join(e.delta for e in events
                      if e.type == "response.reasoning_summary_text.delta")
    assert "kill" not in summary
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "content_filter"


def test_a_clean_reasoning_summary_passes(gw, sim):
    response = gw.client().responses.create(
        model="o4-mini", input=f"[[summary:{CLEAN}]] [[say:{CLEAN}]]",
        reasoning={"summary": "auto"}, safety_identifier="u1")
    assert response.status == "completed"
    assert response.output[0].summary[0].text == CLEAN and response.output_text == CLEAN


# --- Chat's deprecated functions -------------------------------------------------------------

SAY = [{"name": "say", "description": "Say something.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}]


def legacy_call(gw: Any, arguments: str, **kwargs: Any) -> Any:
    return gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"[[tool:say:{arguments}]]"}],
        functions=SAY, function_call={"name": "say"}, safety_identifier="u1", **kwargs)


def test_a_legacy_function_calls_arguments_are_moderated(gw, sim):
    """``functions`` is deprecated but served: its ``function_call.arguments`` are text the
    model wrote, as a tool call's are."""
    answer = legacy_call(gw, f'{{"text": "{VIOLENT}"}}')
    assert answer.choices[0].finish_reason == "content_filter"
    assert VIOLENT not in answer.model_dump_json()
    clean = legacy_call(gw, '{"text": "hello"}')
    assert clean.choices[0].finish_reason == "function_call"
    assert clean.choices[0].message.function_call.arguments == '{"text": "hello"}'


def test_a_legacy_function_calls_streamed_arguments_are_moderated(gw, sim):
    # the arguments stream in four pieces: the threat lies inside the second
    chunks = list(legacy_call(gw, f'{{"text": "{CLEAN}{VIOLENT}. {CLEAN * 3}"}}', stream=True))
    arguments = "".join(c.delta.function_call.arguments or "" for chunk in chunks
                        for c in chunk.choices if c.delta.function_call)
    assert "kill" not in arguments
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_a_withheld_answer_keeps_no_logprobs(gw, sim):
    """With ``logprobs: true`` an answer's every token is in ``logprobs.content`` too."""
    answer = chat(gw, [{"role": "user", "content": f"[[say:{VIOLENT}]]"}], logprobs=True)
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].logprobs is None and "kill" not in answer.model_dump_json()
    clean = chat(gw, [{"role": "user", "content": "[[say:Hello there.]]"}], logprobs=True)
    assert [t.token for t in clean.choices[0].logprobs.content] == ["Hello", " there."]


def test_a_background_response_is_refused_unless_streamed(gw, sim):
    """Its answer would be fetched later with GET /v1/responses/{id}: no gateway route serves
    that, and the answer would skip output moderation if one did."""
    sent = sim.calls.get("/v1/responses", 0)
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().responses.create(model=MODEL, input="hello", background=True,
                                     safety_identifier="u1")
    assert caught.value.code == "invalid_request" and caught.value.param == "background"
    assert sim.calls.get("/v1/responses", 0) == sent  # nothing was sent
    assert ["invalid_request"] in [r["reasons"] for r in audit(gw)]  # and it is recorded
    events = list(gw.client().responses.create(model=MODEL, input="hello", background=True,
                                               stream=True, safety_identifier="u1"))
    assert events[-1].type == "response.completed"


# --- what moderation cannot read ------------------------------------------------------------

PDF = {"type": "file", "file": {"filename": "notes.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}}


def test_a_file_reaches_the_model_noted_as_unmoderated(gw, sim):
    """Moderation reads text and images only: a file goes through (its name and the text
    around it moderated), and the record says that part was not."""
    chat(gw, [{"role": "user", "content": [{"type": "text", "text": "summarise this"}, PDF]}])
    assert sim.calls["/v1/chat/completions"] == 1
    assert sim.moderation_inputs[0] == ["summarise this\nnotes.pdf"]  # one message, one text
    record = audit(gw)[0]
    assert "unmoderated_input" in record["reasons"] and record["decision"] == "allowed"


def test_a_prompt_that_only_names_a_file_field_is_not_noted(gw, sim):
    chat(gw, [{"role": "user", "content": 'what does "file_id": mean in the OpenAI API?'}])
    assert "unmoderated_input" not in audit(gw)[0]["reasons"]


def test_unreadable_refuse_sends_nothing(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_MODERATION__UNREADABLE="refuse")
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, [{"role": "user", "content": [{"type": "text", "text": "what is said?"}, audio]}])
    assert caught.value.code == "invalid_request" and "moderation cannot read" in caught.value.message
    assert sim.calls["/v1/chat/completions"] == 0
    chat(gw, [{"role": "user", "content": "plain text still goes"}])
    assert sim.calls["/v1/chat/completions"] == 1


# --- inline moderation (reference §1.5) -----------------------------------------------------

CLEAN_SCORES = {"type": "moderation_result", "model": "lenient", "flagged": False,
                "categories": {}, "category_scores": {"violence": 0.001}}  # fmt: skip


class CleanInlineScores:
    """The simulated upstream, answering any request that asks for inline moderation with
    clean scores: what a lenient model or policy the client picked would bring back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = await receive()  # the SDK's body arrives in one message
        asked = b'"moderation"' in message.get("body", b"")
        start: dict[str, Any] = {}

        async def again() -> Any:
            return message

        async def scored(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                start.update(event)
                return
            body = orjson.loads(event["body"])
            if asked and isinstance(body, dict) and "choices" in body:
                body["moderation"] = {"output": {"type": "moderation_results",
                                                 "model": "lenient", "results": [CLEAN_SCORES]}}
            elif asked and isinstance(body, dict) and body.get("object") == "response":
                body["moderation"] = {"output": CLEAN_SCORES}
            data = orjson.dumps(body)
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, again, scored)


@pytest.fixture
def lenient(start_gateway: Any, sim: Any) -> Iterator[Any]:
    with serve_in_thread(CleanInlineScores(sim)) as url:
        yield lambda **env: start_gateway(GOODSTANDING_UPSTREAM_URL=f"{url}/v1", **env)


OWN_MODERATION = {"model": "lenient-moderation", "policy": {"output": {"mode": "score"}}}


@pytest.mark.parametrize("inline", ["true", "false"])
def test_a_clients_own_inline_scores_do_not_pass_its_answer(lenient, sim, inline):
    gw = lenient(GOODSTANDING_MODERATION__INLINE=inline)
    answer = chat(gw, [{"role": "user", "content": f"[[say:{VIOLENT}]]"}],
                  extra_body={"moderation": OWN_MODERATION})
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.content is None
    # the client's object went upstream as sent; the gateway moderated the answer itself
    assert sim.requests[1]["body"]["moderation"] == OWN_MODERATION
    assert sim.moderation_inputs[-1] == [VIOLENT]
    assert audit(gw)[-1]["decision"] == "output_withheld"


def test_a_clients_own_inline_scores_do_not_pass_a_responses_answer(lenient, sim):
    gw = lenient(GOODSTANDING_MODERATION__INLINE="true")
    response = gw.client().responses.create(model=MODEL, input=f"[[say:{VIOLENT}]]",
                                            safety_identifier="u1",
                                            extra_body={"moderation": OWN_MODERATION})
    assert response.incomplete_details.reason == "content_filter"
    assert VIOLENT not in response.model_dump_json()


def test_the_gateways_own_inline_ask_saves_the_output_moderation_call(lenient, sim):
    gw = lenient(GOODSTANDING_MODERATION__INLINE="true")
    answer = chat(gw, [{"role": "user", "content": "hello there"}])
    assert answer.choices[0].finish_reason == "stop"
    sent = sim.requests[1]["body"]["moderation"]
    assert sent == {"model": gw.settings.moderation.model,
                    "policy": {"output": {"mode": "score"}}}
    assert sim.calls["/v1/moderations"] == 1  # the input only: the answer came scored
