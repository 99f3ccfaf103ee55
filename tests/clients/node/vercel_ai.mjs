// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) plays every case of tests/clients/cases.py.
// Its finish reasons are translated to OpenAI's words (content-filter → content_filter).
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, isStepCount, jsonSchema, streamText, tool } from "ai";
import { MODEL, TOOL_RESULT, WEATHER, playAll } from "./common.mjs";

async function play(c, gw, out) {
  const provider = createOpenAI({ baseURL: gw.baseURL, apiKey: gw.key });
  const model = c.api === "responses" ? provider.responses(MODEL) : provider.chat(MODEL);
  const request = {
    model,
    prompt: c.prompt,
    maxRetries: c.max_retries,
    providerOptions: gw.user ? { openai: { safetyIdentifier: gw.user } } : {},
  };
  if (c.tool_choice) {
    const execute = c.round_trip ? { execute: async () => TOOL_RESULT } : {};
    request.tools = {
      [WEATHER.name]: tool({ description: WEATHER.description, inputSchema: jsonSchema(WEATHER.parameters), ...execute }),
    };
    request.toolChoice = c.tool_choice;
    if (c.round_trip) {
      request.stopWhen = isStepCount(2);
      // a required tool choice would ask for another call after the result
      request.prepareStep = ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: "auto" } : {});
    }
  }
  if (!c.stream) {
    const result = await generateText(request);
    out.text = result.text;
    out.finish = finish(result.finishReason);
    out.tool_calls = result.steps.at(-1).toolCalls.map(call); // the last step's: the answer
    return;
  }
  const text = [];
  let failure = null;
  for await (const part of streamText({ ...request, onError: ({ error }) => { failure = error; } }).fullStream) {
    if (part.type === "text-delta" && part.text) text.push(part.text);
    if (part.type === "tool-call") out.tool_calls.push(call(part));
    if (part.type === "finish") out.finish = finish(part.finishReason);
  }
  if (failure) throw failure;
  out.text = text.join("");
  out.chunks = text.length;
}

const call = (c) => ({ name: c.toolName, arguments: JSON.stringify(c.input) });
const finish = (reason) => (typeof reason === "string" ? reason.replaceAll("-", "_") : reason);

function describeError(err) {
  const inner = err?.lastError ?? err; // a RetryError wraps the last APICallError
  if (!APICallError.isInstance(inner)) throw err;
  let code = null;
  try {
    code = JSON.parse(inner.responseBody).error.code;
  } catch {}
  return { class: inner.name, status: inner.statusCode, code };
}

await playAll(play, describeError);
