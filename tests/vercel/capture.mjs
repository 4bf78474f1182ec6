// Drives the real Vercel AI SDK against the fake provider with telemetry on, exporting every span
// with the stock OTLP/HTTP protobuf exporter, as a Next.js app pointed at the collector would.
//   node capture.mjs SCENARIO OPENAI_BASE_URL ANTHROPIC_BASE_URL OTLP_TRACES_URL
// With CAPTURE_OTLP_ENDPOINT (a traces URL) set, the spans also go there (OTLP/HTTP protobuf).
// One scenario per process: the Python driver (tests/support/capture.py vercel) tags what the fake served.
// AI SDK 6 traces with its built-in tracer when a call sets `experimental_telemetry`; AI SDK 7 moved
// OpenTelemetry into @ai-sdk/otel, whose integration is registered once (`registerTelemetry`), after
// which every call is traced and takes `telemetry` (there is no `metadata`: context is `runtimeContext`).
import * as ai from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { DiagConsoleLogger, DiagLogLevel, diag, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

const [scenario, openaiBase, anthropicBase, otlpUrl] = process.argv.slice(2);
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN); // a failed export says so on stderr
const exporters = [new OTLPTraceExporter({ url: otlpUrl })];
if (process.env.CAPTURE_OTLP_ENDPOINT) {
  // also to a collector, as the app in production would (OTEL_EXPORTER_OTLP_HEADERS applies)
  exporters.push(new OTLPTraceExporter({ url: process.env.CAPTURE_OTLP_ENDPOINT }));
}
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "capture-vercel-app" }),
  spanProcessors: exporters.map((exporter) => new SimpleSpanProcessor(exporter)),
});
trace.setGlobalTracerProvider(provider);
const { embed, generateText, jsonSchema, streamText, tool } = ai;
const v7 = typeof ai.registerTelemetry === "function"; // AI SDK 6 has no such export
if (v7) {
  const { OpenTelemetry } = await import("@ai-sdk/otel"); // only installed beside AI SDK 7
  // the global tracer provider, as with AI SDK 6; the opt-in AI SDK attributes carry what GenAI
  // semconv has no key for (reasoning tokens, embedding inputs, the runtime context)
  ai.registerTelemetry(new OpenTelemetry({ usage: true, embedding: true, runtimeContext: true }));
}

const openai = createOpenAI({ baseURL: openaiBase, apiKey: "sk-fake" });
const anthropic = createAnthropic({ baseURL: `${anthropicBase}/v1`, apiKey: "sk-ant-fake" });
const context = { userId: "user-7", sessionId: "sess-99", tenant: "acme" };
const telemetry = v7
  ? { telemetry: { functionId: "answer", includeRuntimeContext: { userId: true, sessionId: true, tenant: true } },
      runtimeContext: context }
  : { experimental_telemetry: { isEnabled: true, functionId: "answer", metadata: context } };
const question = { system: "You are terse.", prompt: "What is the capital of France?" };
const weather = tool({
  description: "Current weather for a city",
  inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
});

async function drain(result) {
  for await (const _ of result.textStream) {
    // consume the stream, as an app rendering it would
  }
  await result.usage;
}

const scenarios = {
  "openai.chat": () =>
    generateText({ model: openai.chat("gpt-4o-mini"), ...question, temperature: 0.2, maxOutputTokens: 50,
                   ...telemetry }),
  "openai.stream": () =>
    drain(streamText({ model: openai.chat("gpt-4o-mini"), ...question, ...telemetry })),
  "openai.tool_call": () =>
    generateText({ model: openai.chat("gpt-4o-mini"), prompt: "Weather in Paris?", tools: { get_weather: weather },
                   ...telemetry }),
  "openai.error": () =>
    generateText({ model: openai.chat("gpt-4o-mini-error-429"), ...question, maxRetries: 0,
                   ...telemetry }).catch(() => undefined),
  "openai.embeddings": () =>
    embed({ model: openai.embedding("text-embedding-3-small"), value: "hello", ...telemetry }),
  "anthropic.chat": () =>
    generateText({ model: anthropic("claude-sonnet-4-5"), ...question, maxOutputTokens: 100,
                   ...telemetry }),
  "anthropic.stream": () =>
    drain(streamText({ model: anthropic("claude-sonnet-4-5"), ...question, maxOutputTokens: 100,
                       ...telemetry })),
};

if (!(scenario in scenarios)) {
  console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
await scenarios[scenario]();
await provider.forceFlush(); // SimpleSpanProcessor's shutdown does not wait for exports in flight
await provider.shutdown();
