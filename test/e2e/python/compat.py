"""
Client compatibility with the official `openai` package for Python, unmodified: the first calls a
new user makes, against the gateway `npm start` runs. Driven by test/e2e/python-client.test.ts,
which starts the stack and passes it in the environment:

    TOLLGATE_BASE_URL  the gateway's inference base URL (…/ai/v1)
    TOLLGATE_KEY       an API key that may use TOLLGATE_MODEL
    TOLLGATE_MODEL     the model alias

Each check runs on its own; the script prints one JSON object per check to stdout
({"check", "ok", "detail"}) and exits 0 (the test reads the lines and fails on any that is not ok).
"""

import json
import os
import sys
import traceback

import openai
from openai import OpenAI

BASE_URL = os.environ["TOLLGATE_BASE_URL"]
KEY = os.environ["TOLLGATE_KEY"]
MODEL = os.environ["TOLLGATE_MODEL"]

# The bundled mock's answer and embedding (dev/mock-upstream.ts).
ANSWER = "Hello word1 word2"
EMBEDDING = [0.125, -0.25, 0.5, 0.75, -1, 0.0625, 0.375, -0.5]
WEATHER_CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

client = OpenAI(base_url=BASE_URL, api_key=KEY, max_retries=0)
checks = []


def check(fn):
    checks.append(fn)
    return fn


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


@check
def chat_json():
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}]
    )
    completion = raw.parse()
    expect(completion.model == MODEL, f"model is {completion.model!r}, not the alias")
    expect(completion.choices[0].message.content == ANSWER, f"content {completion.choices[0].message.content!r}")
    expect(completion.usage is not None and completion.usage.prompt_tokens > 0, "no usage")
    expect(completion._request_id, "no _request_id (x-request-id did not reach the client)")
    return f"{completion.usage.total_tokens} tokens, request id {completion._request_id}"


@check
def chat_stream_with_usage():
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, models, usage = "", set(), None
    for chunk in stream:
        models.add(chunk.model)
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    expect(text == ANSWER, f"streamed text {text!r}")
    expect(models == {MODEL}, f"chunks named {sorted(models)}")
    expect(usage is not None and usage.completion_tokens > 0, "no usage chunk")
    return f"{len(text)} chars, usage {usage.total_tokens}"


@check
def chat_stream_helper_and_tool_call():
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER_CHAT_TOOL]) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    expect(final.model == MODEL, f"final completion names {final.model!r}")
    expect(call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, repr(call))
    answer = client.chat.completions.create(
        model=MODEL,
        tools=[WEATHER_CHAT_TOOL],
        messages=messages + [final.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "sunny"}],
    )
    expect(answer.choices[0].message.content == ANSWER, repr(answer.choices[0].message))
    return f"called {call.function.name}({call.function.arguments})"


@check
def embeddings_default_base64():
    # The SDK asks for base64 when encoding_format is not given and decodes it itself.
    result = client.embeddings.create(model=MODEL, input=["a", "b"])
    vectors = [d.embedding for d in result.data]
    expect(vectors == [EMBEDDING, EMBEDDING], f"vectors {vectors}")
    return f"{len(vectors)} vectors of {len(vectors[0])}"


@check
def responses_chain_immediately():
    first = client.responses.create(model=MODEL, input="hi")
    expect(first.output_text == ANSWER, f"output_text {first.output_text!r}")
    expect(first.model == MODEL, f"model {first.model!r}")
    # No pause: the stored response must be readable and chainable the moment it is answered.
    retrieved = client.responses.retrieve(first.id)
    expect(retrieved.id == first.id and retrieved.output_text == ANSWER, "retrieve differs")
    second = client.responses.create(model=MODEL, input="and then?", previous_response_id=first.id)
    expect(second.previous_response_id == first.id, f"previous_response_id {second.previous_response_id!r}")
    items = client.responses.input_items.list(second.id)
    expect(len(items.data) >= 1, "no input items")
    deleted = client.responses.delete(second.id)
    try:
        client.responses.retrieve(second.id)
        raise AssertionError("a deleted response is still readable")
    except openai.NotFoundError:
        pass
    return f"{first.id} → {second.id}, {len(items.data)} input items, delete → {deleted!r}"


@check
def responses_stream_helper():
    with client.responses.stream(model=MODEL, input="hi") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    expect(deltas == ANSWER, f"deltas {deltas!r}")
    expect(final.status == "completed" and final.output_text == ANSWER, f"final {final.status} {final.output_text!r}")
    expect(final.model == MODEL, f"completed response names {final.model!r}")
    return f"{final.id} {final.usage.total_tokens} tokens"


@check
def models_list_and_retrieve():
    ids = [m.id for m in client.models.list()]
    expect(MODEL in ids, f"{MODEL} not in {ids}")
    expect(client.models.retrieve(MODEL).id == MODEL, "retrieve names another model")
    try:
        client.models.retrieve("no-such-model")
        raise AssertionError("an unknown model was found")
    except openai.NotFoundError as e:
        expect(e.status_code == 404, str(e.status_code))
    return f"{len(ids)} models"


@check
def errors_are_typed():
    bad = OpenAI(base_url=BASE_URL, api_key="tg-not-a-real-key", max_retries=0)
    try:
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as e:
        expect(e.status_code == 401, str(e.status_code))
    try:
        client.chat.completions.create(model=MODEL, messages="not a list")
        raise AssertionError("a malformed body was accepted")
    except openai.BadRequestError as e:
        expect(e.status_code == 400, str(e.status_code))
    return "401 AuthenticationError, 400 BadRequestError"


def main():
    for fn in checks:
        try:
            detail = fn()
            print(json.dumps({"check": fn.__name__, "ok": True, "detail": detail}), flush=True)
        except Exception as e:  # one failing check must not hide the others
            detail = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
            print(json.dumps({"check": fn.__name__, "ok": False, "detail": detail}), flush=True)
    print(json.dumps({"check": "_version", "ok": True, "detail": openai.__version__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
