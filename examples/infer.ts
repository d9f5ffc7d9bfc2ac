// Recipe: docs/sdk/infer.mdx. `infer` only exists inside `onCheckpoint`, so
// each snippet is the body of a checkpoint callback.
import {
  CloudApiError,
  createTrainer,
  type ChatMessage,
  type InferArgs,
} from "arkor";

type Infer = (args: InferArgs) => Promise<Response>;

// Stand-in for the reader's own tool implementation.
async function getWeather(city: string): Promise<{ city: string; forecast: string }> {
  return { city, forecast: "sunny" };
}

// Basic call.
export const basic = createTrainer({
  name: "infer-basic",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  callbacks: {
    onCheckpoint: async ({ step, infer }) => {
      const res = await infer({
        messages: [
          { role: "user", content: "I can't log in." },
        ],
      });
      console.log(`step=${step} sample=`, await res.text());
    },
  },
});

// Tool calling.
export const toolCalling = createTrainer({
  name: "infer-tools",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  callbacks: {
    onCheckpoint: async ({ infer }) => {
      const res = await infer({
        messages: [
          { role: "user", content: "What's the weather in Tokyo?" },
        ],
        tools: [
          {
            type: "function",
            function: {
              name: "get_weather",
              parameters: {
                type: "object",
                properties: { city: { type: "string" } },
                required: ["city"],
              },
            },
          },
        ],
        toolChoice: "auto",
        stream: false,
      });
      const data = (await res.json()) as { choices: Array<{ message: ChatMessage }> };
      // data.choices[0].message may be { role: "assistant", tool_calls: [...] }
      console.log(data.choices[0]?.message);
    },
  },
});

// Structured output, then the `structuredOutputs` constraints.
export async function structured(infer: Infer) {
  {
    const res = await infer({
      messages: [{ role: "user", content: "Extract the user's email." }],
      responseFormat: {
        type: "json_schema",
        json_schema: {
          name: "user",
          schema: {
            type: "object",
            properties: { email: { type: "string", format: "email" } },
            required: ["email"],
          },
          strict: true,
        },
      },
    });
    console.log(await res.text());
  }
  {
    const res = await infer({
      messages: [{ role: "user", content: "Classify urgency: I can't log in." }],
      structuredOutputs: { choice: ["low", "medium", "high"] },
      stream: false,
    });
    console.log(await res.json());
  }
  {
    const res = await infer({
      messages: [{ role: "user", content: "Generate a ticket id." }],
      structuredOutputs: { regex: "^[A-Z]{3}-\\d{4}$" },
      stream: false,
    });
    console.log(await res.json());
  }
  {
    const res = await infer({
      messages: [{ role: "user", content: "Spell out the digit." }],
      structuredOutputs: {
        grammar: 'root ::= "zero" | "one" | "two" | "three"',
      },
      stream: false,
    });
    console.log(await res.json());
  }
  {
    const res = await infer({
      messages: [{ role: "user", content: "Reply with a JSON object." }],
      structuredOutputs: { json_object: true },
      stream: false,
    });
    console.log(await res.json());
  }
}

// Tool calling round-trip.
export async function roundTrip(infer: Infer) {
  const tools = [
    {
      type: "function" as const,
      function: {
        name: "get_weather",
        parameters: {
          type: "object",
          properties: { city: { type: "string" } },
          required: ["city"],
        },
      },
    },
  ];

  const messages: ChatMessage[] = [
    { role: "user", content: "What's the weather in Tokyo?" },
  ];

  const first = await infer({ messages, tools, toolChoice: "auto", stream: false });
  const firstData = (await first.json()) as { choices: Array<{ message: ChatMessage }> };
  const reply = firstData.choices[0].message;

  if (reply.role === "assistant" && reply.tool_calls?.length) {
    const call = reply.tool_calls[0];
    const args = JSON.parse(call.function.arguments) as { city: string };
    const result = await getWeather(args.city);

    const second = await infer({
      messages: [
        ...messages,
        reply,                                        // assistant turn carrying tool_calls
        { role: "tool", tool_call_id: call.id, content: JSON.stringify(result) },
      ],
      tools,
      toolChoice: "auto",
      stream: false,
    });
    const finalReply = ((await second.json()) as { choices: Array<{ message: ChatMessage }> })
      .choices[0].message;
    // finalReply.content is the user-facing answer.
    return finalReply.content;
  }
  return undefined;
}

// Consuming the returned Response.
export async function consume(infer: Infer, messages: ChatMessage[]) {
  {
    // Streaming (default)
    const res = await infer({ messages });
    for await (const chunk of res.body!) {
      // chunk: Uint8Array of one or more SSE frames
      void chunk;
    }
  }
  {
    // Or read the whole stream at once
    const res = await infer({ messages });
    const text = await res.text();
    void text;
  }
  {
    // Or, if you set stream: false, parse the JSON body
    const res = await infer({ messages, stream: false });
    const data = await res.json();
    void data;
  }
}

// Errors: a non-2xx answer rejects with CloudApiError.
export async function guarded(infer: Infer, messages: ChatMessage[]) {
  try {
    const res = await infer({ messages, stream: false });
    // Use the Response.
    return res;
  } catch (err) {
    if (err instanceof CloudApiError) {
      // err.status is the HTTP status; err.message carries the upstream message.
      console.error(err.status, err.message);
    }
    return undefined;
  }
}
