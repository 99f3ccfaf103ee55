// openai-node plays every case of tests/clients/cases.py (see common.mjs).
import OpenAI from "openai";
import { MODEL, TOOL_RESULT, WEATHER, playAll } from "./common.mjs";

const CHAT_TOOL = { type: "function", function: WEATHER };
const RESPONSES_TOOL = { type: "function", ...WEATHER };

async function play(c, gw, out) {
  const client = new OpenAI({ baseURL: gw.baseURL, apiKey: gw.key, maxRetries: c.max_retries });
  const extra = gw.user ? { safety_identifier: gw.user } : {};
  if (c.api === "responses") return responses(client, c, extra, out);
  const messages = [{ role: "user", content: c.prompt }];
  const tools = c.tool_choice ? { tools: [CHAT_TOOL], tool_choice: c.tool_choice } : {};
  const message = await chat(client, c.stream, messages, { ...extra, ...tools }, out);
  if (c.round_trip && message?.tool_calls?.length) {
    messages.push(message, { role: "tool", tool_call_id: message.tool_calls[0].id, content: TOOL_RESULT });
    await chat(client, false, messages, { ...extra, tools: [CHAT_TOOL] }, out);
  }
}

async function chat(client, stream, messages, extra, out) {
  if (!stream) {
    const answer = await client.chat.completions.create({ model: MODEL, messages, ...extra });
    const choice = answer.choices[0];
    out.text = choice.message.content;
    out.finish = choice.finish_reason;
    out.tool_calls = (choice.message.tool_calls ?? []).map((t) => ({ name: t.function.name, arguments: t.function.arguments }));
    return choice.message;
  }
  const text = [];
  const calls = [];
  for await (const chunk of await client.chat.completions.create({ model: MODEL, messages, stream: true, ...extra })) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.content) text.push(choice.delta.content);
    for (const d of choice.delta.tool_calls ?? []) {
      calls[d.index] ??= { name: "", arguments: "" };
      calls[d.index].name += d.function?.name ?? "";
      calls[d.index].arguments += d.function?.arguments ?? "";
    }
    out.finish = choice.finish_reason ?? out.finish;
  }
  out.text = text.join("");
  out.chunks = text.length;
  out.tool_calls = calls;
  return null;
}

async function responses(client, c, extra, out) {
  const tools = c.tool_choice ? { tools: [RESPONSES_TOOL], tool_choice: c.tool_choice } : {};
  const request = { model: MODEL, input: c.prompt, ...extra, ...tools };
  if (!c.stream) {
    const response = await client.responses.create(request);
    out.text = response.output_text;
    out.tool_calls = response.output.filter((i) => i.type === "function_call").map((i) => ({ name: i.name, arguments: i.arguments }));
    return;
  }
  const text = [];
  for await (const event of await client.responses.create({ ...request, stream: true })) {
    if (event.type === "response.output_text.delta") text.push(event.delta);
    if (event.type === "response.output_item.done" && event.item.type === "function_call") {
      out.tool_calls.push({ name: event.item.name, arguments: event.item.arguments });
    }
  }
  out.text = text.join("");
  out.chunks = text.length;
}

function describeError(err) {
  if (!(err instanceof OpenAI.APIError)) throw err;
  return { class: err.constructor.name, status: err.status, code: err.code ?? null };
}

await playAll(play, describeError);
