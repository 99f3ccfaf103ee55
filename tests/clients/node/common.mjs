// Shared by the JS runners: read the cases and the gateway from the environment, play each
// case with the given player, print one JSON object {case name: outcome} on the last line.
export const WEATHER = {
  name: "get_weather",
  description: "The current weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string", description: "the city" } },
    required: ["city"],
    additionalProperties: false,
  },
};
export const TOOL_RESULT = "sunny, 21 C";
export const MODEL = "gpt-4o-mini";

export function outcome() {
  return { text: null, chunks: 0, tool_calls: [], finish: null, error: null, elapsed: 0 };
}

export async function playAll(player, describeError) {
  const env = process.env;
  const cases = JSON.parse(env.GS_CASES);
  const results = {};
  for (const c of cases) {
    const out = outcome();
    const key = c.good_key ? env.GS_KEY : env.GS_BAD_KEY;
    const user = c.end_user ? `${env.GS_CLIENT}-user` : null;
    const started = performance.now();
    try {
      await player(c, { baseURL: env.GS_BASE_URL, key, user }, out);
    } catch (err) {
      out.error = describeError(err);
    }
    out.elapsed = (performance.now() - started) / 1000;
    results[c.name] = out;
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}
