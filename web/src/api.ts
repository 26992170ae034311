// The page's client of the server's OpenAI API (same origin): the model list and a streamed chat completion
// (server-sent events), with the API key as a Bearer token when one is set.

export class ApiError extends Error {
  constructor(message: string, public status: number, public code?: string) {
    super(message);
  }
}

export interface ToolCall {
  id?: string;
  name: string;
  arguments: string;
}

export interface Delta {
  content?: string | null;
  reasoning_content?: string | null;
  tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[];
}

export interface StreamResult {
  usage?: { prompt_tokens: number; completion_tokens: number };
  timings?: { predicted_n: number; predicted_ms: number; predicted_per_second: number };  // qwen3 serve and llama.cpp send it
  finishReason?: string;
}

function headers(apiKey: string, json = false): Record<string, string> {
  const h: Record<string, string> = json ? { 'Content-Type': 'application/json' } : {};
  if (apiKey) h.Authorization = `Bearer ${apiKey}`;
  return h;
}

async function errorOf(r: Response): Promise<ApiError> {
  let message = `HTTP ${r.status} ${r.statusText}`;
  let code: string | undefined;
  try {
    const j = await r.json();
    if (j?.error?.message) {
      message = j.error.message;
      code = j.error.code ?? undefined;
    }
  } catch {
    // not JSON: the status line says enough
  }
  return new ApiError(message, r.status, code);
}

export async function listModels(apiKey: string): Promise<string[]> {
  const r = await fetch('/v1/models', { headers: headers(apiKey) });
  if (!r.ok) throw await errorOf(r);
  const j = await r.json();
  return (j.data ?? []).map((m: { id: string }) => m.id);
}

// POSTs a streamed chat completion and calls onDelta for each choice delta as it arrives. Resolves at
// [DONE] (or the end of the body); rejects with ApiError for an error answer or an error event, and with the
// fetch's AbortError when `signal` aborts (which closes the connection: the server cancels the sequence).
export async function streamChat(body: object, apiKey: string, signal: AbortSignal, onDelta: (d: Delta) => void): Promise<StreamResult> {
  const r = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: headers(apiKey, true),
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!r.ok) throw await errorOf(r);
  if (!r.body) throw new ApiError('the answer has no body', r.status);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  const result: StreamResult = {};
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return result;
    buf += decoder.decode(value, { stream: true }).replace(/\r/g, '');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;  // comments (keep-alives) and other fields
        const data = line.slice(5).trim();
        if (data === '[DONE]') return result;
        const j = JSON.parse(data);
        if (j.error) throw new ApiError(j.error.message ?? 'error', 0, j.error.code);
        if (j.usage) result.usage = j.usage;
        if (j.timings) result.timings = j.timings;
        for (const choice of j.choices ?? []) {
          if (choice.delta) onDelta(choice.delta);
          if (choice.finish_reason) result.finishReason = choice.finish_reason;
        }
      }
    }
  }
}
